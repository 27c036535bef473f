package harness;

/**
 * Deliberately NOT Serializable: SerializationFailureJob puts one inside a Serializable object and
 * writes it with ObjectOutputStream, which throws
 * java.io.NotSerializableException: harness.LegacyHttpClient
 */
final class LegacyHttpClient {
    final String endpoint;

    LegacyHttpClient(String endpoint) {
        this.endpoint = endpoint;
    }
}

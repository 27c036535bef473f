//! Stack traces as Flink's REST API reports them (`exceptionHistory[].stacktrace`), for the
//! diagnosis tests. Frames are trimmed to a few per link; headers and `Caused by` structure are as
//! the JVM prints them. Real harness failures live in `testdata/` and `tests/data/`.

pub const HEAP_OOM: &str = "java.lang.OutOfMemoryError: Java heap space\n\
\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)\n\
\tat java.base/java.util.ArrayList.grow(ArrayList.java:237)\n\
\tat java.base/java.util.ArrayList.add(ArrayList.java:455)\n\
\tat com.example.sessions.SessionAggregator.process(SessionAggregator.java:61)\n\
\tat org.apache.flink.streaming.runtime.operators.windowing.functions.InternalIterableProcessWindowFunction.process(InternalIterableProcessWindowFunction.java:57)\n\
\tat org.apache.flink.streaming.runtime.operators.windowing.WindowOperator.emitWindowContents(WindowOperator.java:577)\n\
\tat org.apache.flink.streaming.runtime.operators.windowing.WindowOperator.onEventTime(WindowOperator.java:476)\n\
\tat org.apache.flink.streaming.api.operators.InternalTimerServiceImpl.advanceWatermark(InternalTimerServiceImpl.java:302)\n\
\tat org.apache.flink.streaming.runtime.tasks.StreamTask.invoke(StreamTask.java:917)\n\
\tat org.apache.flink.runtime.taskmanager.Task.doRun(Task.java:763)\n\
\tat org.apache.flink.runtime.taskmanager.Task.run(Task.java:575)\n\
\tat java.base/java.lang.Thread.run(Thread.java:840)\n";

pub const GC_OVERHEAD: &str = "java.lang.RuntimeException: Could not forward element to next operator\n\
\tat org.apache.flink.streaming.runtime.tasks.CopyingChainingOutput.pushToOperator(CopyingChainingOutput.java:92)\n\
\tat org.apache.flink.streaming.runtime.tasks.CopyingChainingOutput.collect(CopyingChainingOutput.java:50)\n\
Caused by: java.lang.OutOfMemoryError: GC overhead limit exceeded\n\
\tat java.base/java.util.HashMap.resize(HashMap.java:702)\n\
\tat com.example.dedup.SeenIds.add(SeenIds.java:33)\n\
\t... 20 more\n";

/// Flink enriches JVM out-of-memory messages with advice; the class stays `OutOfMemoryError`.
pub const DIRECT_OOM: &str = "java.lang.RuntimeException: One or more fetchers have encountered exception\n\
\tat org.apache.flink.connector.base.source.reader.fetcher.SplitFetcherManager.checkErrors(SplitFetcherManager.java:333)\n\
\tat org.apache.flink.connector.base.source.reader.SourceReaderBase.getNextFetch(SourceReaderBase.java:228)\n\
\tat org.apache.flink.connector.base.source.reader.SourceReaderBase.pollNext(SourceReaderBase.java:190)\n\
\tat org.apache.flink.streaming.api.operators.SourceOperator.emitNext(SourceOperator.java:443)\n\
\tat org.apache.flink.runtime.taskmanager.Task.run(Task.java:575)\n\
\tat java.base/java.lang.Thread.run(Thread.java:840)\n\
Caused by: java.lang.RuntimeException: SplitFetcher thread 0 received unexpected exception while polling the records\n\
\tat org.apache.flink.connector.base.source.reader.fetcher.SplitFetcher.runOnce(SplitFetcher.java:168)\n\
\tat org.apache.flink.connector.base.source.reader.fetcher.SplitFetcher.run(SplitFetcher.java:117)\n\
\t... 1 more\n\
Caused by: java.lang.OutOfMemoryError: Direct buffer memory. The direct out-of-memory error has occurred. This can mean two things: either job(s) require(s) a larger size of JVM direct memory or there is a direct memory leak. The direct memory can be allocated by user code or some of its dependencies. In this case 'taskmanager.memory.task.off-heap.size' configuration option should be increased. Flink framework and its dependencies also consume the direct memory, mostly for network communication.\n\
\tat java.base/java.nio.Bits.reserveMemory(Bits.java:175)\n\
\tat java.base/java.nio.DirectByteBuffer.<init>(DirectByteBuffer.java:118)\n\
\tat java.base/java.nio.ByteBuffer.allocateDirect(ByteBuffer.java:317)\n\
\tat java.base/sun.nio.ch.Util.getTemporaryDirectBuffer(Util.java:242)\n\
\tat java.base/sun.nio.ch.IOUtil.read(IOUtil.java:242)\n\
\tat org.apache.kafka.common.network.PlaintextTransportLayer.read(PlaintextTransportLayer.java:103)\n\
\tat org.apache.kafka.clients.consumer.KafkaConsumer.poll(KafkaConsumer.java:1211)\n\
\t... 5 more\n";

pub const METASPACE_OOM: &str = "java.lang.OutOfMemoryError: Metaspace. The metaspace out-of-memory error has occurred. This can mean two things: either the job requires a larger size of JVM metaspace to load classes or there is a class loading leak. In the first case 'taskmanager.memory.jvm-metaspace.size' configuration option should be increased. If the error persists (usually in cluster after several job (re-)submissions) then there is probably a class loading leak in user code or some of its dependencies which has to be investigated and fixed. The task executor has to be shutdown...\n\
\tat java.base/java.lang.ClassLoader.defineClass1(Native Method)\n\
\tat java.base/java.lang.ClassLoader.defineClass(ClassLoader.java:1017)\n\
\tat java.base/java.net.URLClassLoader.defineClass(URLClassLoader.java:524)\n\
\tat org.apache.flink.util.ChildFirstClassLoader.loadClassWithoutExceptionHandling(ChildFirstClassLoader.java:71)\n\
\tat org.apache.flink.util.FlinkUserCodeClassLoader.loadClass(FlinkUserCodeClassLoader.java:51)\n";

/// The job failed because too many checkpoints in a row expired.
pub const CHECKPOINT_THRESHOLD_EXPIRED: &str = "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy\n\
\tat org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler.handleFailure(ExecutionFailureHandler.java:219)\n\
\tat org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler.getGlobalFailureHandlingResult(ExecutionFailureHandler.java:133)\n\
\tat org.apache.flink.runtime.scheduler.DefaultScheduler.handleGlobalFailure(DefaultScheduler.java:311)\n\
Caused by: org.apache.flink.util.FlinkRuntimeException: Exceeded checkpoint tolerable failure threshold. The latest checkpoint failed due to Checkpoint expired before completing., view the Checkpoint History tab or the Job Manager log to find out why continuous checkpoints failed.\n\
\tat org.apache.flink.runtime.checkpoint.CheckpointFailureManager.checkFailureAgainstCounter(CheckpointFailureManager.java:212)\n\
\tat org.apache.flink.runtime.checkpoint.CheckpointFailureManager.handleJobLevelCheckpointException(CheckpointFailureManager.java:169)\n\
\tat org.apache.flink.runtime.checkpoint.CheckpointCoordinator.abortPendingCheckpoint(CheckpointCoordinator.java:2155)\n\
\tat org.apache.flink.runtime.checkpoint.CheckpointCoordinator$CheckpointCanceller.run(CheckpointCoordinator.java:2216)\n\
\tat java.base/java.util.concurrent.FutureTask.run(FutureTask.java:264)\n";

/// A task declined the checkpoint because writing its state to S3 was refused.
pub const CHECKPOINT_ASYNC_FAILED: &str = "org.apache.flink.runtime.checkpoint.CheckpointException: Asynchronous task checkpoint failed.\n\
\tat org.apache.flink.streaming.runtime.tasks.AsyncCheckpointRunnable.handleExecutionException(AsyncCheckpointRunnable.java:320)\n\
\tat org.apache.flink.streaming.runtime.tasks.AsyncCheckpointRunnable.run(AsyncCheckpointRunnable.java:155)\n\
\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)\n\
\tat java.base/java.lang.Thread.run(Thread.java:840)\n\
Caused by: java.lang.Exception: Could not materialize checkpoint 1742 for operator KeyedProcess -> Sink: orders-sink (3/8)#0.\n\
\tat org.apache.flink.streaming.runtime.tasks.AsyncCheckpointRunnable.handleExecutionException(AsyncCheckpointRunnable.java:298)\n\
\t... 4 more\n\
Caused by: java.util.concurrent.ExecutionException: java.io.IOException: Could not flush to file and close the file system output stream to s3://flink-state/checkpoints/7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c/chk-1742/3b9f0a2c in order to obtain the stream state handle\n\
\tat java.base/java.util.concurrent.FutureTask.report(FutureTask.java:122)\n\
\tat java.base/java.util.concurrent.FutureTask.get(FutureTask.java:191)\n\
\t... 3 more\n\
Caused by: java.io.IOException: Could not flush to file and close the file system output stream to s3://flink-state/checkpoints/7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c/chk-1742/3b9f0a2c in order to obtain the stream state handle\n\
\tat org.apache.flink.runtime.state.filesystem.FsCheckpointStreamFactory$FsCheckpointStateOutputStream.closeAndGetHandle(FsCheckpointStreamFactory.java:354)\n\
\t... 7 more\n\
Caused by: java.nio.file.AccessDeniedException: checkpoints/7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c/chk-1742/3b9f0a2c: PUT 0-byte object: software.amazon.awssdk.services.s3.model.S3Exception: Access Denied (Service: S3, Status Code: 403, Request ID: 8Q2XJ4K9ZB1T)\n\
\tat org.apache.hadoop.fs.s3a.S3AUtils.translateException(S3AUtils.java:255)\n\
\t... 12 more\n";

/// What `SerializationFailureJob` really throws: a serializable object holding a field that is not.
pub const NOT_SERIALIZABLE: &str = "java.lang.RuntimeException: harness: could not serialize enrichment cache entry for record 41\n\
\tat harness.SerializationFailureJob$CacheWriter.fail(SerializationFailureJob.java:64)\n\
\tat harness.FailAfter.map(FailAfter.java:30)\n\
\tat org.apache.flink.streaming.api.operators.StreamMap.processElement(StreamMap.java:38)\n\
Caused by: java.io.NotSerializableException: harness.LegacyHttpClient\n\
\tat java.base/java.io.ObjectOutputStream.writeObject0(ObjectOutputStream.java:1197)\n\
\tat java.base/java.io.ObjectOutputStream.defaultWriteFields(ObjectOutputStream.java:1582)\n\
\tat java.base/java.io.ObjectOutputStream.writeObject(ObjectOutputStream.java:354)\n\
\tat harness.SerializationFailureJob$CacheWriter.fail(SerializationFailureJob.java:62)\n\
\t... 20 more\n";

/// Kryo's own exception on the root of a multi-line message ("Serialization trace:").
pub const KRYO_UNREGISTERED: &str = "com.esotericsoftware.kryo.KryoException: Encountered unregistered class ID: 13994\n\
Serialization trace:\n\
payload (com.example.events.Envelope)\n\
\tat com.esotericsoftware.kryo.util.DefaultClassResolver.readClass(DefaultClassResolver.java:137)\n\
\tat com.esotericsoftware.kryo.Kryo.readClass(Kryo.java:693)\n\
\tat com.esotericsoftware.kryo.serializers.ObjectField.read(ObjectField.java:118)\n\
\tat org.apache.flink.api.java.typeutils.runtime.kryo.KryoSerializer.deserialize(KryoSerializer.java:394)\n\
\tat org.apache.flink.streaming.runtime.streamrecord.StreamElementSerializer.deserialize(StreamElementSerializer.java:206)\n";

/// Kryo cannot find a class; the root is the (weak) `ClassNotFoundException` underneath.
pub const KRYO_CLASS_NOT_FOUND: &str = "com.esotericsoftware.kryo.KryoException: Unable to find class: com.example.events.ClickEvent\n\
Serialization trace:\n\
event (com.example.events.Envelope)\n\
\tat com.esotericsoftware.kryo.util.DefaultClassResolver.readName(DefaultClassResolver.java:138)\n\
\tat com.esotericsoftware.kryo.Kryo.readClassAndObject(Kryo.java:761)\n\
\tat org.apache.flink.api.java.typeutils.runtime.kryo.KryoSerializer.deserialize(KryoSerializer.java:394)\n\
Caused by: java.lang.ClassNotFoundException: com.example.events.ClickEvent\n\
\tat java.base/java.net.URLClassLoader.findClass(URLClassLoader.java:445)\n\
\tat org.apache.flink.util.FlinkUserCodeClassLoader.loadClassWithoutExceptionHandling(FlinkUserCodeClassLoader.java:67)\n\
\t... 18 more\n";

pub const NPE: &str = "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"order.customerId\" is null\n\
\tat com.example.orders.EnrichOrder.map(EnrichOrder.java:42)\n\
\tat com.example.orders.EnrichOrder.map(EnrichOrder.java:18)\n\
\tat org.apache.flink.streaming.api.operators.StreamMap.processElement(StreamMap.java:38)\n\
\tat org.apache.flink.streaming.runtime.tasks.OneInputStreamTask$StreamTaskNetworkOutput.emitRecord(OneInputStreamTask.java:238)\n\
\tat org.apache.flink.runtime.taskmanager.Task.run(Task.java:575)\n";

pub const NUMBER_FORMAT: &str = "org.apache.flink.streaming.runtime.tasks.ExceptionInChainedOperatorException: Could not forward element to next operator\n\
\tat org.apache.flink.streaming.runtime.tasks.ChainingOutput.pushToOperator(ChainingOutput.java:92)\n\
Caused by: java.lang.NumberFormatException: For input string: \"N/A\"\n\
\tat java.base/java.lang.NumberFormatException.forInputString(NumberFormatException.java:67)\n\
\tat java.base/java.lang.Long.parseLong(Long.java:711)\n\
\tat com.example.clicks.ParseClick.map(ParseClick.java:27)\n\
\t... 14 more\n";

pub const SQL_NOT_NULL: &str = "org.apache.flink.table.api.TableException: Column 'customer_id' is NOT NULL, however, a null value is being written into it. You can set job configuration 'table.exec.sink.not-null-enforcer'='DROP' to suppress this exception and drop such records silently.\n\
\tat org.apache.flink.table.runtime.operators.sink.ConstraintEnforcer.processNotNullConstraint(ConstraintEnforcer.java:261)\n\
\tat org.apache.flink.table.runtime.operators.sink.ConstraintEnforcer.processElement(ConstraintEnforcer.java:241)\n";

pub const HEARTBEAT_TIMEOUT: &str = "java.util.concurrent.TimeoutException: Heartbeat of TaskManager with id 10.42.3.17:6122-4f1c2a timed out.\n\
\tat org.apache.flink.runtime.jobmaster.JobMaster$TaskManagerHeartbeatListener.notifyHeartbeatTimeout(JobMaster.java:1447)\n\
\tat org.apache.flink.runtime.heartbeat.HeartbeatMonitorImpl.run(HeartbeatMonitorImpl.java:155)\n\
\tat java.base/java.util.concurrent.Executors$RunnableAdapter.call(Executors.java:539)\n";

pub const TM_UNREACHABLE: &str = "org.apache.flink.runtime.jobmaster.JobMasterException: TaskManager with id 10.42.3.17:6122-4f1c2a is no longer reachable.\n\
\tat org.apache.flink.runtime.jobmaster.JobMaster$TaskManagerHeartbeatListener.notifyTargetUnreachable(JobMaster.java:1503)\n\
\tat org.apache.flink.runtime.heartbeat.DefaultHeartbeatMonitor.reportHeartbeatRpcFailure(DefaultHeartbeatMonitor.java:126)\n";

pub const REMOTE_TRANSPORT: &str = "org.apache.flink.runtime.io.network.netty.exception.RemoteTransportException: Connection unexpectedly closed by remote task manager '10.42.3.17/10.42.3.17:41235 [ 10.42.3.17:6122-4f1c2a ] '. This might indicate that the remote task manager was lost.\n\
\tat org.apache.flink.runtime.io.network.netty.CreditBasedPartitionRequestClientHandler.channelInactive(CreditBasedPartitionRequestClientHandler.java:134)\n\
\tat org.apache.flink.shaded.netty4.io.netty.channel.AbstractChannelHandlerContext.invokeChannelInactive(AbstractChannelHandlerContext.java:305)\n";

pub const NO_MORE_SLOTS: &str = "org.apache.flink.util.FlinkException: TaskExecutor pekko.tcp://flink@10.42.3.17:6122/user/rpc/taskmanager_0 has no more allocated slots for job 7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c.\n\
\tat org.apache.flink.runtime.taskexecutor.TaskExecutor.freeNoLongerUsedSlots(TaskExecutor.java:2069)\n\
\tat org.apache.flink.runtime.taskexecutor.TaskExecutor.freeSlotInternal(TaskExecutor.java:2050)\n";

pub const KAFKA_METADATA: &str = "java.lang.RuntimeException: One or more fetchers have encountered exception\n\
\tat org.apache.flink.connector.base.source.reader.fetcher.SplitFetcherManager.checkErrors(SplitFetcherManager.java:333)\n\
Caused by: java.lang.RuntimeException: SplitFetcher thread 0 received unexpected exception while polling the records\n\
\tat org.apache.flink.connector.base.source.reader.fetcher.SplitFetcher.runOnce(SplitFetcher.java:168)\n\
\t... 1 more\n\
Caused by: org.apache.kafka.common.errors.TimeoutException: Timeout expired while fetching topic metadata\n";

/// The SQL connector shades the Kafka client; a producer that lost its broker.
pub const KAFKA_SHADED_NETWORK: &str = "org.apache.flink.util.FlinkRuntimeException: Failed to send data to Kafka clicks-enriched-2 with FlinkKafkaInternalProducer{transactionalId='null', inTransaction=false, closed=false} \n\
\tat org.apache.flink.connector.kafka.sink.KafkaWriter$WriterCallback.throwException(KafkaWriter.java:440)\n\
Caused by: org.apache.flink.kafka.shaded.org.apache.kafka.common.errors.NetworkException: Disconnected from node 2\n";

pub const KAFKA_UNKNOWN_TOPIC: &str = "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: This server does not host this topic-partition.\n";

pub const KINESIS_THROTTLED: &str = "org.apache.flink.connector.kinesis.sink.KinesisStreamsException$KinesisStreamsFailFastException: Encountered an exception while persisting records, not retrying due to {failOnError} being set.\n\
\tat org.apache.flink.connector.kinesis.sink.KinesisStreamsSinkWriter.handleFullyFailedRequest(KinesisStreamsSinkWriter.java:231)\n\
Caused by: java.util.concurrent.CompletionException: software.amazon.awssdk.services.kinesis.model.ProvisionedThroughputExceededException: Rate exceeded for shard shardId-000000000003 in stream clicks under account 123456789012. (Service: Kinesis, Status Code: 400, Request ID: c0ffee00-1d2e-4f5a-9b8c-7d6e5f4a3b2c)\n\
\tat java.base/java.util.concurrent.CompletableFuture.encodeThrowable(CompletableFuture.java:332)\n\
Caused by: software.amazon.awssdk.services.kinesis.model.ProvisionedThroughputExceededException: Rate exceeded for shard shardId-000000000003 in stream clicks under account 123456789012. (Service: Kinesis, Status Code: 400, Request ID: c0ffee00-1d2e-4f5a-9b8c-7d6e5f4a3b2c)\n\
\tat software.amazon.awssdk.core.internal.http.CombinedResponseHandler.handleErrorResponse(CombinedResponseHandler.java:125)\n";

pub const ELASTICSEARCH_429: &str = "java.io.IOException: Failed to flush bulk request\n\
\tat com.example.sinks.BulkSinkWriter.flush(BulkSinkWriter.java:88)\n\
Caused by: org.elasticsearch.client.ResponseException: method [POST], host [http://es-0.search:9200], URI [/_bulk?timeout=1m], status line [HTTP/1.1 429 Too Many Requests]\n\
\tat org.elasticsearch.client.RestClient.convertResponse(RestClient.java:347)\n";

pub const ASYNC_TIMEOUT: &str = "java.util.concurrent.TimeoutException: Async function call has timed out.\n\
\tat org.apache.flink.streaming.api.functions.async.AsyncFunction.timeout(AsyncFunction.java:97)\n\
\tat org.apache.flink.streaming.api.operators.async.AsyncWaitOperator$ResultHandler.timerTriggered(AsyncWaitOperator.java:403)\n";

pub const ASK_TIMEOUT: &str = "java.util.concurrent.CompletionException: org.apache.pekko.pattern.AskTimeoutException: Ask timed out on [Actor[pekko.tcp://flink@10.42.0.5:6123/user/rpc/jobmanager_2#-1209981]] after [10000 ms]. Message of type [org.apache.flink.runtime.rpc.messages.RemoteFencedMessage]. A typical reason for `AskTimeoutException` is that the recipient actor didn't send a reply.\n\
\tat java.base/java.util.concurrent.CompletableFuture.encodeRelay(CompletableFuture.java:368)\n\
Caused by: org.apache.pekko.pattern.AskTimeoutException: Ask timed out on [Actor[pekko.tcp://flink@10.42.0.5:6123/user/rpc/jobmanager_2#-1209981]] after [10000 ms]. Message of type [org.apache.flink.runtime.rpc.messages.RemoteFencedMessage]. A typical reason for `AskTimeoutException` is that the recipient actor didn't send a reply.\n\
\tat org.apache.pekko.pattern.PromiseActorRef$.$anonfun$defaultOnTimeout$1(AskSupport.scala:675)\n";

pub const STATE_MIGRATION: &str = "java.lang.Exception: Exception while creating StreamOperatorStateContext.\n\
\tat org.apache.flink.streaming.api.operators.StreamTaskStateInitializerImpl.streamOperatorStateContext(StreamTaskStateInitializerImpl.java:258)\n\
Caused by: org.apache.flink.util.FlinkException: Could not restore keyed state backend for KeyedProcessOperator_2a1f0f3b1c9d6e4f8a7b5c3d2e1f0a9b_(1/4) from any of the 1 provided restore options.\n\
\tat org.apache.flink.streaming.api.operators.BackendRestorerProcedure.createAndRestore(BackendRestorerProcedure.java:165)\n\
\t... 11 more\n\
Caused by: org.apache.flink.runtime.state.BackendBuildingException: Failed when trying to restore heap backend\n\
\tat org.apache.flink.runtime.state.heap.HeapKeyedStateBackendBuilder.restoreState(HeapKeyedStateBackendBuilder.java:177)\n\
\t... 13 more\n\
Caused by: org.apache.flink.util.StateMigrationException: The new key serializer (org.apache.flink.api.common.typeutils.base.StringSerializer@3c3b1f) must be compatible with the previous key serializer (org.apache.flink.api.common.typeutils.base.LongSerializer@2a8e1e).\n\
\tat org.apache.flink.runtime.state.heap.HeapRestoreOperation.restore(HeapRestoreOperation.java:151)\n\
\t... 15 more\n";

pub const ROLLBACK_UNMAPPED: &str = "java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint s3://flink-state/savepoints/savepoint-7c2e5a-0a1b2c3d4e5f. Cannot map checkpoint/savepoint state for operator 2a1f0f3b1c9d6e4f8a7b5c3d2e1f0a9b to the new program, because the operator is not available in the new program. If you want to allow to skip this, you can set the --allowNonRestoredState option on the CLI.\n\
\tat org.apache.flink.runtime.checkpoint.Checkpoints.throwNonRestoredStateException(Checkpoints.java:233)\n\
\tat org.apache.flink.runtime.checkpoint.Checkpoints.loadAndValidateCheckpoint(Checkpoints.java:197)\n";

/// `InvalidClassException` is state incompatibility while restoring...
pub const RESTORE_INVALID_CLASS: &str = "java.lang.Exception: Exception while creating StreamOperatorStateContext.\n\
\tat org.apache.flink.streaming.api.operators.StreamTaskStateInitializerImpl.streamOperatorStateContext(StreamTaskStateInitializerImpl.java:258)\n\
Caused by: org.apache.flink.util.FlinkException: Could not restore operator state backend for StreamMap_5d1e0b3c9a8f7e6d5c4b3a2f1e0d9c8b_(2/4) from any of the 1 provided restore options.\n\
\t... 11 more\n\
Caused by: java.io.InvalidClassException: com.example.state.SessionState; local class incompatible: stream classdesc serialVersionUID = 1, local class serialVersionUID = 2\n\
\tat java.base/java.io.ObjectStreamClass.initNonProxy(ObjectStreamClass.java:597)\n\
\t... 20 more\n";

/// ...and a plain serialization error anywhere else.
pub const INVALID_CLASS: &str = "java.io.InvalidClassException: com.example.events.Click; no valid constructor\n\
\tat java.base/java.io.ObjectStreamClass$ExceptionInfo.newInvalidClassException(ObjectStreamClass.java:158)\n\
\tat org.apache.flink.util.InstantiationUtil.deserializeObject(InstantiationUtil.java:534)\n";

pub const NO_CLASS_DEF: &str =
    "java.lang.NoClassDefFoundError: com/fasterxml/jackson/databind/ObjectMapper\n\
\tat com.example.orders.ParseOrder.open(ParseOrder.java:22)\n\
Caused by: java.lang.ClassNotFoundException: com.fasterxml.jackson.databind.ObjectMapper\n\
\tat java.base/java.net.URLClassLoader.findClass(URLClassLoader.java:445)\n";

/// Nothing recognisable anywhere in the chain.
pub const OPAQUE: &str = "java.lang.RuntimeException: ledger lookup failed for batch 7781\n\
\tat com.example.ledger.LedgerLookup.flatMap(LedgerLookup.java:77)\n\
Caused by: java.io.IOException: unexpected end of stream on http://ledger.internal/...\n\
\tat okhttp3.internal.http1.Http1ExchangeCodec.readResponseHeaders(Http1ExchangeCodec.kt:210)\n";

/// What `RestartLoopJob` throws on every attempt.
pub const RESTART_LOOP_POISON: &str = "java.lang.IllegalStateException: harness restart loop: poison record 41\n\
\tat harness.RestartLoopJob$Poison.fail(RestartLoopJob.java:43)\n\
\tat harness.FailAfter.map(FailAfter.java:30)\n\
\tat org.apache.flink.streaming.api.operators.StreamMap.processElement(StreamMap.java:38)\n\
\tat org.apache.flink.streaming.runtime.tasks.CopyingChainingOutput.pushToOperator(CopyingChainingOutput.java:75)\n\
\tat org.apache.flink.runtime.taskmanager.Task.run(Task.java:575)\n\
\tat java.base/java.lang.Thread.run(Thread.java:840)\n";

/// Flink's own `checkState` failing under the job's keyed function: the class is a JDK one, the
/// thrower is Flink.
pub const FLINK_PRECONDITION: &str = "java.lang.IllegalStateException: The state backend has not been initialized.\n\
\tat org.apache.flink.util.Preconditions.checkState(Preconditions.java:193)\n\
\tat org.apache.flink.runtime.state.heap.HeapKeyedStateBackend.getOrCreateKeyedState(HeapKeyedStateBackend.java:220)\n\
\tat com.example.orders.Dedup.processElement(Dedup.java:40)\n\
\tat org.apache.flink.streaming.api.operators.KeyedProcessOperator.processElement(KeyedProcessOperator.java:83)\n\
\tat org.apache.flink.runtime.taskmanager.Task.run(Task.java:575)\n";

/// A client library the bot knows nothing about fails inside the job's `map`: the job's package
/// is seen entering from Flink, the library's is not, so the library is not taken for the job.
pub const UNLISTED_LIBRARY: &str =
    "io.lettuce.core.RedisConnectionException: Unable to connect to redis.cache.internal:6379\n\
\tat io.lettuce.core.RedisConnectionException.create(RedisConnectionException.java:78)\n\
\tat io.lettuce.core.RedisClient.connect(RedisClient.java:211)\n\
\tat com.example.ledger.Cache.get(Cache.java:12)\n\
\tat org.apache.flink.streaming.api.operators.StreamMap.processElement(StreamMap.java:38)\n\
\tat org.apache.flink.runtime.taskmanager.Task.run(Task.java:575)\n";

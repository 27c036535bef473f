//! Whose code threw: stack frames of a Java trace sorted by owner (Flink, the JDK, a language
//! runtime, a known library, or the job itself), and the job's own top frame (pure functions).
//!
//! The job's packages are taken from the configuration (`clusters[].user_packages`) when given.
//! Otherwise they are read off the trace: Flink calls into the job's code (`StreamMap` calls the
//! job's `map`), so an unlisted package whose frame is called directly by a Flink frame is the
//! job's. A package that is neither listed nor seen entering from Flink stays unknown: an
//! unfamiliar library is not taken for the job.

use serde::Serialize;

/// One `at` line: `com.acme.billing.Parser.parse(Parser.java:88)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    pub class: String,
    pub method: String,
    /// `Parser.java`; None for "Unknown Source" and "Native Method".
    pub file: Option<String>,
    pub line: Option<u32>,
    pub native: bool,
}

impl Frame {
    /// Parses `at [loader//][module@version/]pkg.Class.method(Source)`; None if not a frame.
    pub fn parse(line: &str) -> Option<Frame> {
        let rest = line.trim().strip_prefix("at ")?;
        let (qualified, source) = rest.split_once('(')?;
        let source = source.strip_suffix(')')?;
        let qualified = without_hidden_class_suffix(qualified.trim());
        // Module and class-loader prefixes end in '/'; class names never contain one.
        let qualified = qualified.rsplit('/').next().unwrap_or(&qualified);
        let (class, method) = qualified.rsplit_once('.')?;
        let (file, line) = match source {
            "Unknown Source" | "Native Method" => (None, None),
            s => match s.rsplit_once(':') {
                Some((f, l)) => match l.parse::<u32>() {
                    Ok(n) => (Some(f.to_string()), Some(n)),
                    Err(_) => (Some(s.to_string()), None),
                },
                None => (Some(s.to_string()), None),
            },
        };
        Some(Frame {
            class: class.to_string(),
            method: method.to_string(),
            file: file.filter(|f| f != "Unknown Source"),
            line,
            native: source == "Native Method",
        })
    }

    /// As the JVM prints it: `com.acme.billing.Parser.parse(Parser.java:88)`.
    pub fn display(&self) -> String {
        let source = match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{f}:{l}"),
            (Some(f), None) => f.clone(),
            (None, _) if self.native => "Native Method".to_string(),
            (None, _) => "Unknown Source".to_string(),
        };
        format!("{}.{}({source})", self.class, self.method)
    }
}

/// `Job$$Lambda$14/0x0000000800066840` -> `Job$$Lambda$14` (hidden classes print an address).
fn without_hidden_class_suffix(s: &str) -> String {
    match s.find("/0x") {
        Some(i) => {
            let tail = &s[i + 3..];
            let hex = tail
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(tail.len());
            format!("{}{}", &s[..i], &tail[hex..])
        }
        None => s.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    Job,
    Flink,
    Jdk,
    /// Scala or Kotlin standard library: called by whoever called it, like the JDK.
    Runtime,
    Library,
    Unknown,
}

/// Flink itself, including what it shades (`org.apache.flink.shaded.`, `...kafka.shaded.`).
const FLINK: &[&str] = &["org.apache.flink."];

const JDK: &[&str] = &["java.", "javax.", "jdk.", "sun.", "com.sun."];

const RUNTIME: &[&str] = &["scala.", "kotlin.", "kotlinx."];

/// Libraries jobs and connectors commonly call into; their own exceptions are not the job's bug.
/// Short on purpose: an unlisted library is still not taken for the job unless Flink calls it
/// directly (as it calls connectors outside `org.apache.flink.`, hence Debezium and Confluent).
const LIBRARIES: &[&str] = &[
    "org.apache.", // every other Apache project: Kafka, Hadoop, Avro, Iceberg, Pekko, ...
    "com.fasterxml.", // Jackson
    "software.amazon.", // AWS SDK v2
    "com.amazonaws.", // AWS SDK v1
    "com.google.", // Guava, protobuf, GCS
    "io.netty.",   // Netty (unshaded)
    "com.esotericsoftware.", // Kryo
    "io.confluent.", // Schema Registry serializers
    "io.debezium.", // CDC connectors
    "okhttp3.",    // OkHttp
    "org.elasticsearch.", // Elasticsearch client
    "akka.",       // Akka (older Flink RPC)
    "org.slf4j.",  // logging
];

fn known_owner(class: &str) -> Option<Owner> {
    let starts = |list: &[&str]| list.iter().any(|p| class.starts_with(p));
    if starts(FLINK) {
        Some(Owner::Flink)
    } else if starts(JDK) {
        Some(Owner::Jdk)
    } else if starts(RUNTIME) {
        Some(Owner::Runtime)
    } else if starts(LIBRARIES) {
        Some(Owner::Library)
    } else {
        None
    }
}

/// The package group a guessed job package is kept as: the first two segments of the package
/// (`com.acme` of `com.acme.billing.Parser`), or the package when it has one (`harness`).
/// Classes without a package (Flink's generated code) have none.
fn package_group(class: &str) -> Option<String> {
    let package = class.rsplit_once('.')?.0;
    let mut segments = package.split('.');
    let first = segments.next()?;
    Some(match segments.next() {
        Some(second) => format!("{first}.{second}."),
        None => format!("{first}."),
    })
}

/// The job's packages (prefixes ending in `.`): the configured ones, else those Flink calls into.
pub fn job_packages<'a>(
    stacks: impl IntoIterator<Item = &'a [Frame]>,
    configured: &[String],
) -> Vec<String> {
    if !configured.is_empty() {
        return configured
            .iter()
            .map(|p| {
                let p = p.trim().trim_end_matches('.');
                format!("{p}.")
            })
            .collect();
    }
    let mut found: Vec<String> = Vec::new();
    for frames in stacks {
        for pair in frames.windows(2) {
            let (callee, caller) = (&pair[0], &pair[1]);
            if known_owner(&callee.class).is_none()
                && known_owner(&caller.class) == Some(Owner::Flink)
            {
                if let Some(group) = package_group(&callee.class) {
                    if !found.contains(&group) {
                        found.push(group);
                    }
                }
            }
        }
    }
    found
}

pub fn owner(class: &str, job_packages: &[String]) -> Owner {
    if job_packages.iter().any(|p| class.starts_with(p.as_str())) {
        return Owner::Job;
    }
    known_owner(class).unwrap_or(Owner::Unknown)
}

/// Who threw an exception of `class` with these frames, and the job's top frame in them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The exception's own class if it is the job's, else the owner of the top frame that is
    /// not the JDK's or a language runtime's (the JDK throws on its caller's behalf).
    pub thrown_by: Owner,
    /// The topmost frame of the job's own code, e.g. `com.acme.billing.Parser.parse(Parser.java:88)`.
    pub job_frame: Option<String>,
}

pub fn origin(class: &str, frames: &[Frame], job_packages: &[String]) -> Origin {
    let job_frame = frames
        .iter()
        .find(|f| owner(&f.class, job_packages) == Owner::Job)
        .map(Frame::display);
    let thrown_by = if owner(class, job_packages) == Owner::Job {
        Owner::Job
    } else {
        frames
            .iter()
            .map(|f| owner(&f.class, job_packages))
            .find(|o| !matches!(o, Owner::Jdk | Owner::Runtime))
            .unwrap_or(if frames.is_empty() {
                Owner::Unknown
            } else {
                Owner::Jdk
            })
    };
    Origin {
        thrown_by,
        job_frame,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(line: &str) -> Frame {
        Frame::parse(line).unwrap_or_else(|| panic!("not a frame: {line}"))
    }

    #[test]
    fn frames_parse_as_the_jvm_prints_them() {
        let cases = [
            ("\tat com.acme.billing.InvoiceParser.parse(InvoiceParser.java:13)", "com.acme.billing.InvoiceParser", "parse", "com.acme.billing.InvoiceParser.parse(InvoiceParser.java:13)"),
            ("\tat java.base/java.util.ArrayList.grow(ArrayList.java:237)", "java.util.ArrayList", "grow", "java.util.ArrayList.grow(ArrayList.java:237)"),
            ("\tat java.base@17.0.9/java.lang.Thread.run(Thread.java:840)", "java.lang.Thread", "run", "java.lang.Thread.run(Thread.java:840)"),
            ("\tat app//com.acme.Job.main(Job.java:5)", "com.acme.Job", "main", "com.acme.Job.main(Job.java:5)"),
            ("\tat java.base/java.lang.ClassLoader.defineClass1(Native Method)", "java.lang.ClassLoader", "defineClass1", "java.lang.ClassLoader.defineClass1(Native Method)"),
            ("\tat StreamExecCalc$5.processElement(Unknown Source)", "StreamExecCalc$5", "processElement", "StreamExecCalc$5.processElement(Unknown Source)"),
            ("\tat com.acme.Job$$Lambda$14/0x0000000800066840.apply(Unknown Source)", "com.acme.Job$$Lambda$14", "apply", "com.acme.Job$$Lambda$14.apply(Unknown Source)"),
            ("\tat org.apache.pekko.pattern.PromiseActorRef$.$anonfun$defaultOnTimeout$1(AskSupport.scala:675)", "org.apache.pekko.pattern.PromiseActorRef$", "$anonfun$defaultOnTimeout$1", "org.apache.pekko.pattern.PromiseActorRef$.$anonfun$defaultOnTimeout$1(AskSupport.scala:675)"),
            ("\tat com.acme.Gen.run(Gen.java)", "com.acme.Gen", "run", "com.acme.Gen.run(Gen.java)"),
        ];
        for (line, class, method, shown) in cases {
            let frame = f(line);
            assert_eq!(
                (frame.class.as_str(), frame.method.as_str()),
                (class, method),
                "{line}"
            );
            assert_eq!(frame.display(), shown, "{line}");
        }
        for not_a_frame in ["\t... 22 more", "Caused by: x.Y: at (z)", "at nothing"] {
            assert_eq!(Frame::parse(not_a_frame), None, "{not_a_frame}");
        }
    }

    fn stack(lines: &[&str]) -> Vec<Frame> {
        lines.iter().map(|l| f(l)).collect()
    }

    const OWN: &[&str] = &[
        "at com.acme.billing.InvoiceParser.parse(InvoiceParser.java:13)",
        "at com.acme.billing.InvoiceJob$ParseInvoice.map(InvoiceJob.java:79)",
        "at org.apache.flink.streaming.api.operators.StreamMap.processElement(StreamMap.java:37)",
    ];
    const JDK_FOR_JOB: &[&str] = &[
        "at java.base/java.lang.Long.parseLong(Long.java:711)",
        "at scala.collection.immutable.StringOps.toLong(StringOps.scala:33)",
        "at com.example.clicks.ParseClick.map(ParseClick.java:27)",
        "at org.apache.flink.streaming.api.operators.StreamMap.processElement(StreamMap.java:38)",
    ];
    const FLINK_CHECK: &[&str] = &[
        "at org.apache.flink.util.Preconditions.checkState(Preconditions.java:193)",
        "at org.apache.flink.runtime.state.heap.HeapKeyedStateBackend.getOrCreate(HeapKeyedStateBackend.java:220)",
        "at com.example.orders.Dedup.processElement(Dedup.java:40)",
        "at org.apache.flink.streaming.api.operators.KeyedProcessOperator.processElement(KeyedProcessOperator.java:83)",
    ];
    const LIBRARY_UNDER_JOB: &[&str] = &[
        "at okhttp3.internal.http1.Http1ExchangeCodec.readResponseHeaders(Http1ExchangeCodec.kt:210)",
        "at com.example.ledger.LedgerLookup.flatMap(LedgerLookup.java:77)",
        "at org.apache.flink.streaming.api.operators.StreamFlatMap.processElement(StreamFlatMap.java:47)",
    ];
    const UNLISTED_LIBRARY_UNDER_JOB: &[&str] = &[
        "at io.lettuce.core.RedisClient.connect(RedisClient.java:211)",
        "at com.example.ledger.Cache.get(Cache.java:12)",
        "at org.apache.flink.streaming.api.operators.StreamMap.processElement(StreamMap.java:38)",
    ];

    /// Name, exception class, frames, configured packages, who threw, the job's frame.
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [&'a str],
        &'a [String],
        Owner,
        Option<&'a str>,
    );

    const CONNECTOR: &[&str] = &[
        "at io.debezium.connector.mysql.MySqlStreamingChangeEventSource.execute(MySqlStreamingChangeEventSource.java:1067)",
        "at org.apache.flink.cdc.connectors.mysql.debezium.task.MySqlBinlogSplitReadTask.execute(MySqlBinlogSplitReadTask.java:81)",
    ];

    #[test]
    fn who_threw_table() {
        use Owner::*;
        #[rustfmt::skip]
        let cases: [Case; 9] = [
            ("the job's own class from its own code", "com.acme.billing.SchemaException", OWN, &[], Job, Some("com.acme.billing.InvoiceParser.parse(InvoiceParser.java:13)")),
            ("a JDK exception thrown for the job (via Scala)", "java.lang.NumberFormatException", JDK_FOR_JOB, &[], Job, Some("com.example.clicks.ParseClick.map(ParseClick.java:27)")),
            ("Flink's own precondition", "java.lang.IllegalStateException", FLINK_CHECK, &[], Flink, Some("com.example.orders.Dedup.processElement(Dedup.java:40)")),
            ("a known library under the job", "java.io.IOException", LIBRARY_UNDER_JOB, &[], Library, Some("com.example.ledger.LedgerLookup.flatMap(LedgerLookup.java:77)")),
            ("an unlisted library is not the job", "io.lettuce.core.RedisConnectionException", UNLISTED_LIBRARY_UNDER_JOB, &[], Unknown, Some("com.example.ledger.Cache.get(Cache.java:12)")),
            ("configured packages decide", "io.lettuce.core.RedisConnectionException", UNLISTED_LIBRARY_UNDER_JOB, &["io.lettuce".to_string()], Job, Some("io.lettuce.core.RedisClient.connect(RedisClient.java:211)")),
            ("a connector Flink calls into is not the job", "io.debezium.DebeziumException", CONNECTOR, &[], Library, None),
            ("no frames, unlisted class", "com.acme.billing.SchemaException", &[], &[], Unknown, None),
            ("no frames, configured class", "com.acme.billing.SchemaException", &[], &["com.acme.".to_string()], Job, None),
        ];
        for (name, class, lines, configured, thrown_by, frame) in cases {
            let frames = stack(lines);
            let packages = job_packages([frames.as_slice()], configured);
            let o = origin(class, &frames, &packages);
            assert_eq!(o.thrown_by, thrown_by, "{name} ({packages:?})");
            assert_eq!(o.job_frame.as_deref(), frame, "{name}");
        }
    }

    #[test]
    fn generated_classes_without_a_package_are_never_the_jobs() {
        let frames = stack(&[
            "at StreamExecCalc$5.processElement(Unknown Source)",
            "at org.apache.flink.streaming.runtime.tasks.ChainingOutput.pushToOperator(ChainingOutput.java:92)",
        ]);
        assert!(job_packages([frames.as_slice()], &[]).is_empty());
    }
}

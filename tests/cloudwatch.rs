//! `ferry-cloudwatch` against the local CloudWatch-compatible server (moto_server, started by
//! scripts/services.sh): metrics read back as exact sums with `GetMetricStatistics`, log lines
//! read back in order with `GetLogEvents`, the API's batch limits, rejected events, an
//! unreachable endpoint, and the reading of a Ferry log file. Every run uses its own dimension
//! values and log streams, so tests run in parallel and again on the same server.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_cloudwatch::{
    log_lines_from_file, CloudWatchConfig, CloudWatchError, LogLine, Metric, Sink,
};
use ferry_tests::cloudwatch::log_events;
use ferry_tests::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const REGION: &str = "us-east-1";

/// Credentials for the local server, set once before any client reads the environment.
fn credentials() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (k, v) in aws_env() {
            std::env::set_var(k, v);
        }
    });
}

/// A name no other test, parallel or earlier, has used on this server.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{t}-{n}", std::process::id())
}

fn config() -> CloudWatchConfig {
    credentials();
    CloudWatchConfig {
        enabled: true,
        endpoint_url: Some(dynamo_url()),
        ..CloudWatchConfig::default()
    }
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The Sum of a metric of the "Migration" namespace.
async fn metric_sum(name: &str, entity: &str, phase: &str) -> (f64, Vec<String>) {
    ferry_tests::cloudwatch::metric_sum("Migration", name, entity, phase).await
}

#[tokio::test]
async fn metrics_are_stored_with_their_dimensions_and_units() {
    let sink = Sink::connect(&config(), REGION, &unique("metrics"))
        .await
        .unwrap();
    assert_eq!(sink.namespace(), "Migration");
    let entity = unique("Sales");
    let e = entity.as_str();
    sink.put_metrics(&[
        Metric::records_processed(e, "load", 100),
        Metric::records_processed(e, "load", 250),
        Metric::errors(e, "load", 2),
        Metric::duration(e, "load", 1.5),
        Metric::records_processed(e, "extract", 999),
    ])
    .await
    .unwrap();
    sink.put_metrics(&[
        Metric::records_processed(e, "load", 7),
        Metric::errors(e, "load", 1),
        Metric::duration(e, "load", 2.25),
    ])
    .await
    .unwrap();

    let (sum, units) = metric_sum("RecordsProcessed", e, "load").await;
    assert_eq!(sum, 357.0);
    assert!(units.iter().all(|u| u == "Count"), "{units:?}");
    assert_eq!(metric_sum("RecordsProcessed", e, "extract").await.0, 999.0);
    let (sum, units) = metric_sum("Errors", e, "load").await;
    assert_eq!(sum, 3.0);
    assert!(units.iter().all(|u| u == "Count"), "{units:?}");
    let (sum, units) = metric_sum("Duration", e, "load").await;
    assert_eq!(sum, 3.75);
    assert!(units.iter().all(|u| u == "Seconds"), "{units:?}");
    assert_eq!(metric_sum("Errors", e, "extract").await.0, 0.0);
}

#[tokio::test]
async fn more_metrics_than_one_request_takes_all_arrive() {
    let sink = Sink::connect(&config(), REGION, &unique("many"))
        .await
        .unwrap();
    let entity = unique("Buyers");
    let metrics: Vec<Metric> = (0..2500)
        .map(|i| Metric::records_processed(&entity, "transform", i % 7))
        .collect();
    let expected: u64 = (0..2500).map(|i| i % 7).sum();
    sink.put_metrics(&metrics).await.unwrap();
    assert_eq!(
        metric_sum("RecordsProcessed", &entity, "transform").await.0,
        expected as f64
    );
}

#[tokio::test]
async fn a_value_that_is_not_finite_is_refused_before_sending() {
    let sink = Sink::connect(&config(), REGION, &unique("nan"))
        .await
        .unwrap();
    let entity = unique("Producers");
    let err = sink
        .put_metrics(&[
            Metric::records_processed(&entity, "load", 5),
            Metric::duration(&entity, "load", f64::NAN),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, CloudWatchError::InvalidValue { .. }),
        "{err:?}"
    );
    assert_eq!(metric_sum("RecordsProcessed", &entity, "load").await.0, 0.0);
}

#[tokio::test]
async fn log_lines_arrive_in_time_order_in_the_run_stream() {
    let run = unique("run");
    let sink = Sink::connect(&config(), REGION, &run).await.unwrap();
    assert_eq!(sink.log_group(), "/ferry/s9-migration");
    assert_eq!(sink.log_stream(), run);
    let t = now_ms();
    sink.put_logs(&[
        LogLine {
            timestamp_ms: t - 2000,
            message: "2nd: extract sales done".into(),
        },
        LogLine {
            timestamp_ms: t - 3000,
            message: "1st: migration started".into(),
        },
        LogLine {
            timestamp_ms: t - 1000,
            message: "3rd: load sales: 8542 items, 0 errors 🚚".into(),
        },
    ])
    .await
    .unwrap();
    // A second connection of the same run finds its group and stream and appends.
    let again = Sink::connect(&config(), REGION, &run).await.unwrap();
    again
        .put_logs(&[LogLine {
            timestamp_ms: t,
            message: "4th: done".into(),
        }])
        .await
        .unwrap();
    let events = log_events("/ferry/s9-migration", &run).await;
    assert_eq!(
        events,
        vec![
            (t - 3000, "1st: migration started".to_string()),
            (t - 2000, "2nd: extract sales done".to_string()),
            (
                t - 1000,
                "3rd: load sales: 8542 items, 0 errors 🚚".to_string()
            ),
            (t, "4th: done".to_string()),
        ]
    );
}

#[tokio::test]
async fn log_batches_stay_within_the_api_limits() {
    let mut cfg = config();
    cfg.log_group = "/ferry/cloudwatch-test".into();
    cfg.log_stream = Some(unique("limits"));
    let sink = Sink::connect(&cfg, REGION, "unused").await.unwrap();
    assert_eq!(sink.log_stream(), cfg.log_stream.as_deref().unwrap());
    let t = now_ms() - 60_000;
    // 12,000 events (more than one request takes), four of 300 KB (more than an event
    // takes: cut on a character boundary) and an empty one (refused by the API: left out).
    let mut lines: Vec<LogLine> = (0..12_000)
        .map(|i| LogLine {
            timestamp_ms: t + i / 1000,
            message: format!("line {i:05}"),
        })
        .collect();
    for i in 0..4 {
        lines.push(LogLine {
            timestamp_ms: t + 20,
            message: format!("big {i}: {}", "ä".repeat(150_000)),
        });
    }
    lines.push(LogLine {
        timestamp_ms: t + 21,
        message: String::new(),
    });
    sink.put_logs(&lines).await.unwrap();

    let events = log_events("/ferry/cloudwatch-test", sink.log_stream()).await;
    assert_eq!(events.len(), 12_004);
    assert!(events.windows(2).all(|w| w[0].0 <= w[1].0));
    for (i, (ts, message)) in events[..12_000].iter().enumerate() {
        assert_eq!(
            (*ts, message.as_str()),
            (t + i as i64 / 1000, &*format!("line {i:05}"))
        );
    }
    for (i, (_, message)) in events[12_000..].iter().enumerate() {
        assert!(message.starts_with(&format!("big {i}: ää")));
        // 262,144 bytes an event, 26 of them the API's overhead; 7 bytes of "big N: ", then
        // two a character: the cut falls inside one, which is dropped whole.
        assert_eq!(message.len(), 262_144 - 26 - 1, "{i}");
    }
}

#[tokio::test]
async fn events_older_than_the_api_accepts_are_reported_and_the_rest_stored() {
    let run = unique("old");
    let sink = Sink::connect(&config(), REGION, &run).await.unwrap();
    let t = now_ms();
    let err = sink
        .put_logs(&[
            LogLine {
                timestamp_ms: t - 15 * 24 * 3600 * 1000,
                message: "fifteen days ago".into(),
            },
            LogLine {
                timestamp_ms: t - 10,
                message: "a".into(),
            },
            LogLine {
                timestamp_ms: t,
                message: "b".into(),
            },
        ])
        .await
        .unwrap_err();
    match &err {
        CloudWatchError::Rejected { rejected, sent, .. } => assert_eq!((*rejected, *sent), (1, 3)),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("older than 14 days"), "{err}");
    let events = log_events("/ferry/s9-migration", &run).await;
    let messages: Vec<&str> = events.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(messages, ["a", "b"]);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_an_error_the_caller_can_warn_about() {
    // A port nothing listens on: connection refused on every attempt.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut cfg = config();
    cfg.endpoint_url = Some(url.clone());
    let started = std::time::Instant::now();
    let err = Sink::connect(&cfg, REGION, &unique("down"))
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert_eq!(err.code(), None);
    assert!(std::error::Error::source(&err).is_some());
    let text = err.to_string();
    assert!(
        text.starts_with("CreateLogGroup /ferry/s9-migration (us-east-1): CloudWatch unreachable"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    eprintln!("warning as a caller would log it: {text}");
}

#[test]
fn the_config_block_reads_with_defaults_and_refuses_unknown_keys() {
    let cfg: CloudWatchConfig = serde_json::from_str(r#"{"enabled": true}"#).unwrap();
    assert_eq!(
        cfg,
        CloudWatchConfig {
            enabled: true,
            region: None,
            endpoint_url: None,
            namespace: "Migration".into(),
            log_group: "/ferry/s9-migration".into(),
            log_stream: None,
        }
    );
    let full = r#"{"enabled": false, "region": "eu-west-1", "endpointUrl": "http://127.0.0.1:5500",
        "namespace": "Ferry/Staging", "logGroup": "/ferry/staging", "logStream": "nightly"}"#;
    let cfg: CloudWatchConfig = serde_json::from_str(full).unwrap();
    assert_eq!(cfg.region.as_deref(), Some("eu-west-1"));
    assert_eq!(cfg.endpoint_url.as_deref(), Some("http://127.0.0.1:5500"));
    assert_eq!(
        (
            cfg.namespace.as_str(),
            cfg.log_group.as_str(),
            cfg.log_stream.as_deref()
        ),
        ("Ferry/Staging", "/ferry/staging", Some("nightly"))
    );
    assert!(!CloudWatchConfig::default().enabled);
    let typo = serde_json::from_str::<CloudWatchConfig>(r#"{"enable": true}"#).unwrap_err();
    assert!(
        typo.to_string().contains("unknown field `enable`"),
        "{typo}"
    );
}

#[test]
fn log_file_lines_are_read_from_an_offset_with_their_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("migration.log");
    // As tracing writes them (shared/src/logging.rs): time, level, message; a multi-line
    // message continues on lines without a time; the last line is still being written.
    fs_err::write(
        &path,
        "2026-01-30T15:00:00.123456Z  INFO extract sales: 8542 rows\n\
         \n\
         2026-01-30T15:00:01.500000Z ERROR load sales: batch failed\n\
         caused by: ThrottlingException: slow down\r\n\
         2026-01-30T15:00:02.000000Z  WARN partial",
    )
    .unwrap();
    let (lines, offset) = log_lines_from_file(&path, 0).unwrap();
    let t0 = 1_769_785_200_123; // 2026-01-30T15:00:00.123Z
    assert_eq!(
        lines,
        vec![
            LogLine {
                timestamp_ms: t0,
                message: "2026-01-30T15:00:00.123456Z  INFO extract sales: 8542 rows".into()
            },
            LogLine {
                timestamp_ms: t0 + 1377,
                message: "2026-01-30T15:00:01.500000Z ERROR load sales: batch failed".into()
            },
            LogLine {
                timestamp_ms: t0 + 1377,
                message: "caused by: ThrottlingException: slow down".into()
            },
        ]
    );
    let text = fs_err::read_to_string(&path).unwrap();
    assert_eq!(offset, text.find("2026-01-30T15:00:02").unwrap() as u64);

    // Nothing new: nothing read, the offset stays.
    assert_eq!(
        log_lines_from_file(&path, offset).unwrap(),
        (vec![], offset)
    );
    // The partial line is finished and another appended.
    let mut f = fs_err::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, b" line\n2026-01-30T15:00:03Z  INFO done\n").unwrap();
    let (lines, next) = log_lines_from_file(&path, offset).unwrap();
    let messages: Vec<(i64, &str)> = lines
        .iter()
        .map(|l| (l.timestamp_ms, l.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            (t0 + 1877, "2026-01-30T15:00:02.000000Z  WARN partial line"),
            (t0 + 2877, "2026-01-30T15:00:03Z  INFO done"),
        ]
    );
    assert_eq!(next, fs_err::metadata(&path).unwrap().len());
    // A file shorter than the offset was replaced: read from its start.
    fs_err::write(&path, "2026-01-30T16:00:00Z  INFO new file\n").unwrap();
    let (lines, next) = log_lines_from_file(&path, offset).unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].timestamp_ms, t0 - 123 + 3_600_000);
    assert_eq!(next, 36);
}

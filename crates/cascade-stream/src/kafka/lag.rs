//! Consumer lag: how far the committed offsets trail the partitions' ends.
//!
//! The ends come from librdkafka's statistics (every fetch response carries the partition's
//! high watermark), so measuring asks the broker nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::statistics::Statistics;

/// How often librdkafka reports statistics, and the lag is published, in milliseconds.
pub(crate) const STATISTICS_INTERVAL_MS: u64 = 500;

/// What the statistics say of one partition.
#[derive(Debug, Clone, Copy)]
struct Marks {
    /// The partition's first offset (where a group without a commit starts).
    low: i64,
    /// The offset after the partition's last record.
    high: i64,
    /// The group's committed offset as librdkafka knows it (-1: unknown).
    committed: i64,
}

/// The consumer's context: keeps the partitions' high watermarks from the statistics.
#[derive(Clone)]
pub(crate) struct SourceContext {
    topic: String,
    marks: Arc<Mutex<BTreeMap<i32, Marks>>>,
}

impl SourceContext {
    pub(crate) fn new(topic: &str) -> Self {
        Self {
            topic: topic.to_owned(),
            marks: Arc::default(),
        }
    }
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let mut marks = self.marks.lock();
        for (&partition, stats) in &topic.partitions {
            if partition >= 0 && stats.hi_offset >= 0 {
                marks.insert(
                    partition,
                    Marks {
                        low: stats.lo_offset,
                        high: stats.hi_offset,
                        committed: stats.committed_offset,
                    },
                );
            }
        }
    }
}

impl ConsumerContext for SourceContext {}

/// Publishes `cascade_kafka_consumer_lag{topic, partition}` at most once per statistics
/// interval.
pub(crate) struct LagMeter {
    context: SourceContext,
    last: Option<Instant>,
}

impl LagMeter {
    pub(crate) fn new(context: SourceContext) -> Self {
        Self {
            context,
            last: None,
        }
    }

    /// The lag of each partition assigned to `consumer` whose end is known: its high
    /// watermark less the next offset to process: the later of `committed` (this consumer's
    /// commits) and the group's committed offset, else the partition's first offset.
    /// `None` when measured less than an interval ago.
    pub(crate) fn measure(
        &mut self,
        consumer: &BaseConsumer<SourceContext>,
        committed: &BTreeMap<i32, i64>,
    ) -> Option<BTreeMap<i32, i64>> {
        let interval = Duration::from_millis(STATISTICS_INTERVAL_MS);
        if self.last.is_some_and(|last| last.elapsed() < interval) {
            return None;
        }
        self.last = Some(Instant::now());
        let assignment = consumer.assignment().ok()?;
        let marks = self.context.marks.lock();
        let mut lags = BTreeMap::new();
        for element in assignment.elements_for_topic(&self.context.topic) {
            let partition = element.partition();
            let Some(mark) = marks.get(&partition) else {
                continue;
            };
            let mut next = committed.get(&partition).copied().unwrap_or(-1);
            next = next.max(mark.committed);
            if next < 0 {
                next = mark.low;
            }
            if next < 0 {
                continue;
            }
            let lag = (mark.high - next).max(0);
            metrics::gauge!(
                "cascade_kafka_consumer_lag",
                "topic" => self.context.topic.clone(),
                "partition" => partition.to_string(),
            )
            .set(lag as f64);
            lags.insert(partition, lag);
        }
        Some(lags)
    }
}

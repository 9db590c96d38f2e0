//! The dead-letter producer: records that cannot be processed, with the reason in a header.

use cascade_core::config::KafkaConf;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::KafkaError;
use super::client::producer_config;
use super::record::{DeadLetter, OFFSET_HEADER, PARTITION_HEADER, REASON_HEADER, TOPIC_HEADER};

/// Writes dead letters to `<topic>.dlq` (or the configured topic) and waits for the broker.
pub(crate) struct DeadLetters {
    producer: FutureProducer,
    source_topic: String,
    topic: String,
    waiter: tokio::runtime::Runtime,
}

impl DeadLetters {
    pub(crate) fn new(conf: &KafkaConf) -> Result<Self, KafkaError> {
        let waiter = tokio::runtime::Builder::new_current_thread().build()?;
        Ok(Self {
            producer: producer_config(conf).create()?,
            source_topic: conf.topic.clone(),
            topic: conf.dead_letter_topic(),
            waiter,
        })
    }

    /// The dead-letter topic.
    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends all `letters` and waits until the broker acknowledged each.
    pub(crate) fn send(&self, letters: &[DeadLetter]) -> Result<(), KafkaError> {
        let mut pending = Vec::with_capacity(letters.len());
        for letter in letters {
            let partition = letter.partition.to_string();
            let offset = letter.offset.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: REASON_HEADER,
                    value: Some(letter.reason.as_str()),
                })
                .insert(Header {
                    key: TOPIC_HEADER,
                    value: Some(self.source_topic.as_str()),
                })
                .insert(Header {
                    key: PARTITION_HEADER,
                    value: Some(partition.as_str()),
                })
                .insert(Header {
                    key: OFFSET_HEADER,
                    value: Some(offset.as_str()),
                });
            let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
            if let Some(key) = &letter.key {
                record = record.key(key.as_slice());
            }
            if let Some(payload) = &letter.payload {
                record = record.payload(payload.as_slice());
            }
            let future = self.producer.send_result(record).map_err(|(e, _)| e)?;
            pending.push(future);
        }
        self.waiter.block_on(async {
            for future in pending {
                future
                    .await
                    .map_err(|_| KafkaError::Cancelled)?
                    .map_err(|(e, _)| e)?;
            }
            Ok(())
        })
    }
}

//! Creating the topics a deployment needs.

use std::time::Duration;

use cascade_core::config::KafkaConf;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaError;
use super::client::base_config;

/// Creates the event topic (with `partitions` partitions) and the dead-letter topic (one
/// partition) of `conf` where they do not exist yet.
pub async fn ensure_topics(conf: &KafkaConf, partitions: i32) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = base_config(conf).create()?;
    let dead_letter = conf.dead_letter_topic();
    let topics = [
        NewTopic::new(&conf.topic, partitions, TopicReplication::Fixed(1)),
        NewTopic::new(&dead_letter, 1, TopicReplication::Fixed(1)),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::CreateTopic {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(())
}

//! Client settings shared by the consumer, the producers and the admin client.

use cascade_core::config::KafkaConf;
use rdkafka::ClientConfig;

/// Settings every client of `conf` starts from: the brokers and quick reconnects, so that a
/// restarted broker is found again within about a second.
pub(crate) fn base_config(conf: &KafkaConf) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &conf.brokers)
        .set("client.id", "cascade")
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "1000")
        .set("topic.metadata.refresh.interval.ms", "10000");
    config
}

/// A producer's settings: the broker acknowledges only once every in-sync replica has the
/// record (`acks=all`).
pub(crate) fn producer_config(conf: &KafkaConf) -> ClientConfig {
    let mut config = base_config(conf);
    config
        .set("acks", "all")
        .set("message.timeout.ms", conf.publish_timeout_ms.to_string())
        .set("linger.ms", "5");
    config
}

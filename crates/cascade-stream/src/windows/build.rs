//! Window features from their configuration.

use std::sync::Arc;

use cascade_core::EventTypes;
use cascade_core::config::WindowFeatureConf;
use cascade_core::config::features::{AggregationConf, WindowConf};

use super::aggregate::{Accumulator, Count, DistinctCount, Duration, LastN, Mean, Ratio, Sum};
use super::feature::{WindowFeature, Windowed};
use super::global::Global;
use super::panes::Panes;
use super::select::ItemFields;
use super::session::Sessions;
use super::windowing::Windowing;

/// Builds the feature `conf` describes (a validated configuration); `types` are the configured
/// event types, `fields` looks up item fields for `user_x_field:` keys and `field:` values.
pub fn build(
    conf: &WindowFeatureConf,
    types: &EventTypes,
    fields: Arc<dyn ItemFields>,
) -> Box<dyn WindowFeature> {
    let parts = Parts {
        conf,
        types,
        fields,
    };
    match conf.window {
        WindowConf::Tumbling { size } => parts.with_window(Panes::tumbling(size.millis())),
        WindowConf::Sliding { size, slide } => {
            parts.with_window(Panes::sliding(size.millis(), slide.millis()))
        }
        WindowConf::Session { gap } => parts.with_window(Sessions::new(gap.millis())),
        WindowConf::Global => parts.with_window(Global),
    }
}

struct Parts<'a> {
    conf: &'a WindowFeatureConf,
    types: &'a EventTypes,
    fields: Arc<dyn ItemFields>,
}

impl Parts<'_> {
    fn with_window<W: Windowing>(self, windowing: W) -> Box<dyn WindowFeature> {
        match self.conf.aggregation {
            AggregationConf::Count => self.with::<W, Count>(windowing, ()),
            AggregationConf::Sum => self.with::<W, Sum>(windowing, ()),
            AggregationConf::Mean => self.with::<W, Mean>(windowing, ()),
            AggregationConf::Duration => self.with::<W, Duration>(windowing, ()),
            AggregationConf::DistinctCount { .. } => self.with::<W, DistinctCount>(windowing, ()),
            AggregationConf::Ratio { .. } => self.with::<W, Ratio>(windowing, ()),
            AggregationConf::LastN { n, .. } => self.with::<W, LastN>(windowing, n),
        }
    }

    fn with<W: Windowing, A: Accumulator>(
        self,
        windowing: W,
        params: A::Params,
    ) -> Box<dyn WindowFeature> {
        Box::new(Windowed::<W, A>::new(
            self.conf,
            self.types,
            self.fields,
            windowing,
            params,
        ))
    }
}

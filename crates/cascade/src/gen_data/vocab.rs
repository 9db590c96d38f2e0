//! The fixed word lists titles, categories, tags and user attributes are drawn from.

/// Title and tag words; each cluster has its own topic words among them.
pub const WORDS: &[&str] = &[
    "amber", "anchor", "apple", "arrow", "atlas", "autumn", "badge", "bamboo", "banner", "basalt",
    "beacon", "birch", "blossom", "bridge", "bronze", "cactus", "canyon", "carbon", "castle",
    "cedar", "chalk", "charm", "cherry", "cinder", "citrus", "cliff", "clover", "cobalt", "comet",
    "coral", "cotton", "crane", "crystal", "dawn", "delta", "desert", "diamond", "dune", "eagle",
    "echo", "ember", "engine", "falcon", "feather", "fern", "fjord", "flame", "forest", "fossil",
    "fountain", "galaxy", "garden", "garnet", "glacier", "granite", "harbor", "harvest", "hazel",
    "horizon", "indigo", "iris", "island", "ivory", "jade", "jasmine", "journey", "jungle",
    "kernel", "kettle", "lagoon", "lantern", "lava", "legend", "lemon", "linen", "lotus", "lunar",
    "magnet", "maple", "marble", "meadow", "meteor", "mint", "mirror", "mist", "monsoon", "mosaic",
    "nebula", "nectar", "nickel", "nomad", "oasis", "ocean", "olive", "onyx", "orbit", "orchid",
    "pagoda", "palm", "pearl", "pebble", "pepper", "phoenix", "pine", "pixel", "planet", "plume",
    "polar", "prairie", "prism", "pulse", "quartz", "quest", "quill", "radar", "rain", "raven",
    "reef", "ridge", "river", "rocket", "rose", "ruby", "saffron", "sage", "salt", "sapphire",
    "satin", "shadow", "signal", "silk", "silver", "sky", "slate", "snow", "solar", "spark",
    "spice", "spiral", "spring", "spruce", "star", "steel", "stone", "storm", "summit", "sun",
    "swift", "tango", "temple", "thunder", "tide", "timber", "topaz", "tower", "trail", "tulip",
    "tundra", "twilight", "valley", "velvet", "violet", "voyage", "walnut", "wave", "willow",
    "winter", "wolf", "zenith", "zephyr",
];

/// Category names; clusters map onto them (several clusters share one category).
pub const CATEGORIES: &[&str] = &[
    "books", "music", "movies", "games", "garden", "kitchen", "sports", "travel", "fashion",
    "toys", "health", "beauty", "tools", "office", "pets", "outdoors",
];

/// User age bands.
pub const AGE_BANDS: &[&str] = &["18-24", "25-34", "35-44", "45-54", "55+"];

/// User countries.
pub const COUNTRIES: &[&str] = &["us", "gb", "de", "fr", "jp", "br", "in", "cn", "es", "ca"];

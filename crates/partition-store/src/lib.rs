//! Event Hubs partition ownership and checkpoint stores.

//! Event Hubs AMQP source.

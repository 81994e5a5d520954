//! Test support: an in-process Event Hubs AMQP 1.0 peer.

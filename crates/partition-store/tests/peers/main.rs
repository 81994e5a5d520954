//! The partition store against real peers: Azurite (Microsoft's Blob Storage emulator) and
//! the official SDK's blob checkpoint store (`tests/sdk-compat`). Each test starts its own
//! Azurite on a free loopback port; without Azurite a test is skipped outside CI and fails
//! with CI=true.

/// LoadBalancer replicas converging and taking over on Azurite.
mod balance;
/// BlobStore round trips, conditional claims, the 8-task race, access checks, secrets.
mod blob;
/// Layout compatibility with azure_messaging_eventhubs_checkpointstore_blob 0.9.0.
mod sdk_compat;
/// Azurite and SDK-binary launchers.
mod support;

//! Azurite, Microsoft's Azure Storage emulator (npm `azurite`), as a real Blob peer: started on
//! a free loopback port with its data in a temp dir, killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{find_tool, free_port, peer_missing, wait_listening};

/// Azurite's published development key (not a secret).
pub const AZURITE_DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Azurite's blob service; killed on drop.
#[derive(Debug)]
pub struct Azurite {
    child: Child,
    /// The blob port.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Azurite {
    /// Starts Azurite, or returns None (after [`peer_missing`]) when it is not installed.
    pub fn start() -> Option<Azurite> {
        let Some(bin) = find_tool("azurite-blob") else {
            peer_missing("azurite-blob (npm install -g azurite)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path())
            .args(["--skipApiVersionCheck", "--loose", "--silent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite-blob");
        let mut azurite = Azurite {
            child,
            port,
            _dir: dir,
        };
        wait_listening(
            "azurite-blob",
            &format!("127.0.0.1:{port}"),
            Duration::from_secs(60),
            Some(&mut azurite.child),
        );
        Some(azurite)
    }

    /// The explicit Azurite connection string (BlobEndpoint form).
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_DEV_KEY};\
             BlobEndpoint=http://127.0.0.1:{}/devstoreaccount1;",
            self.port
        )
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

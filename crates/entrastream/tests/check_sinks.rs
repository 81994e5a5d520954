//! `entrastream check-sinks` against the HEC and Sumo peers: exit 0 when every sink passes,
//! 1 with a "fix:" line when one does not; no secret in the output.

use std::process::Command;

use entrastream_testkit::{HecPeer, HecPeerOptions, SumoPeer};

fn run(config: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let config = config.replace("DIR", &dir.path().display().to_string());
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_entrastream"));
    cmd.arg("check-sinks").arg("--config").arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_when_all_pass_and_names_the_fix_otherwise() {
    let hec = HecPeer::start(HecPeerOptions {
        ack: true,
        ..Default::default()
    })
    .await;
    let sumo = SumoPeer::start("SUMOSECRETPATH").await;
    let config = format!(
        "[dead_letter]\npath = \"DIR/dl.ndjson\"\n\
         [[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{}\"\ntoken_env = \"T_HEC\"\nschema = \"raw\"\nindexer_ack = true\n\
         [[sinks]]\nname = \"sumo\"\ntype = \"sumo_logic\"\nurl_env = \"T_SUMO\"\nschema = \"native\"\n",
        hec.url()
    );
    let sumo_url = sumo.url();
    let token = hec.token().to_string();
    let c2 = config.clone();
    let (su, tk) = (sumo_url.clone(), token.clone());
    let (code, out) =
        tokio::task::spawn_blocking(move || run(&c2, &[("T_HEC", &tk), ("T_SUMO", &su)]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("PASS splunk") && out.contains("PASS sumo"),
        "{out}"
    );
    assert_eq!(
        sumo.requests()[0].category.as_deref(),
        Some("entrastream/check")
    );
    assert_eq!(hec.event_count(), 0, "the HEC probe indexes nothing");

    let bad_url = sumo_url.replace("SUMOSECRETPATH", "SUMOSECRETWRONG");
    let (code, out) = tokio::task::spawn_blocking(move || {
        run(
            &config,
            &[("T_HEC", "WRONGTOKEN-SECRET"), ("T_SUMO", &bad_url)],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL splunk") && out.contains("authenticated=NO"),
        "{out}"
    );
    assert!(out.contains("fix:") && out.contains("token"), "{out}");
    assert!(out.contains("FAIL sumo"), "{out}");
    assert!(
        !out.contains("WRONGTOKEN") && !out.contains("SUMOSECRET"),
        "{out}"
    );
}

/// `check-sinks` applies the delivery rules: a HEC endpoint that answers 200 with an HTML page
/// (a proxy) and a Sumo URL that redirects to a page answering 200 both FAIL, with a fix line.
/// Before, the followed redirect and the 200 page passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_page_or_a_redirect_fails_the_check() {
    use entrastream_testkit::Impostor;
    let hec = HecPeer::start(HecPeerOptions::default()).await;
    let sumo = SumoPeer::start("SUMOSECRETPROXY").await;
    hec.impersonate(Some(Impostor::HtmlPage));
    sumo.impersonate(Some(Impostor::Redirect));
    let config = format!(
        "[dead_letter]\npath = \"DIR/dl.ndjson\"\n\
         [[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{}\"\ntoken_env = \"T_HEC\"\nschema = \"raw\"\n\
         [[sinks]]\nname = \"sumo\"\ntype = \"sumo_logic\"\nurl_env = \"T_SUMO\"\nschema = \"native\"\n",
        hec.url()
    );
    let (su, tk) = (sumo.url(), hec.token().to_string());
    let (code, out) =
        tokio::task::spawn_blocking(move || run(&config, &[("T_HEC", &tk), ("T_SUMO", &su)]))
            .await
            .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL splunk") && out.contains("FAIL sumo"),
        "{out}"
    );
    assert!(
        out.contains("redirect") && out.contains("not HEC's success answer"),
        "{out}"
    );
    assert!(!out.contains("SUMOSECRETPROXY"), "{out}");
    assert!(sumo.requests().is_empty() && hec.event_count() == 0);
}

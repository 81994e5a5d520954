use entrastream_app::config::{Config, Env};

/// Not a test: the process entry point that `support::Daemon` re-executes. Without
/// `ENTRASTREAM_E2E_CONFIG` it does nothing.
#[test]
#[ignore = "entry point of the daemon child process, run by the other tests"]
fn daemon_child() {
    let Ok(path) = std::env::var("ENTRASTREAM_E2E_CONFIG") else {
        return;
    };
    let env = Env::from_process();
    let config = match Config::load(std::path::Path::new(&path), &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            std::process::exit(2);
        }
    };
    entrastream_app::init_logging(
        entrastream_app::telemetry_format(&config.log.format),
        &config.log.level,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = match rt.block_on(entrastream_app::run_until_signal(&config, &env)) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    };
    std::process::exit(code);
}

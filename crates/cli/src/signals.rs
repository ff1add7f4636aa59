//! Stopping long-running commands cleanly on Ctrl-C or SIGTERM.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

/// Sets `stop` on Ctrl-C (SIGINT) or SIGTERM, so that the command ends after delivering what
/// it has; a second signal exits at once (status 130).
pub fn stop_on_signal(stop: &Arc<AtomicBool>, what: &str) {
    let stop = Arc::clone(stop);
    let spawned = thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut term) = signal(SignalKind::terminate()) else {
                    return;
                };
                for _ in 0..2 {
                    tokio::select! {
                        result = tokio::signal::ctrl_c() => if result.is_err() { return },
                        _ = term.recv() => {}
                    }
                    if stop.swap(true, Ordering::Relaxed) {
                        // A second signal does not wait for the delivery.
                        std::process::exit(130);
                    }
                }
            });
        });
    if let Err(e) = spawned {
        tracing::warn!("Ctrl-C and SIGTERM will not stop the {what} cleanly: {e}");
    }
}

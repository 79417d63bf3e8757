//! The only module that touches madsim: runtime, nodes, virtual time, tasks.
//!
//! Everything else in the harness, and every model, goes through these functions (models
//! through `Ctx`), so swapping or upgrading the runtime is a one-file change and no model can
//! reach a global simulator handle. Not exposed: madsim's network and file system; services
//! are reached through the harness's own request path, which records every message.

use std::any::Any;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use madsim::runtime::{Handle, Runtime};
use madsim::task::NodeId;

use crate::seed::Seed;
use crate::time::VirtualTime;

/// A madsim node, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeRef(NodeId);

/// Runs `body` on a fresh madsim runtime seeded from `seed`, on a fresh OS thread, and waits
/// at most `wall_max` for it. A panic inside the run comes back as `Err(payload)`; a run still
/// going after `wall_max` comes back as `Ok(None)` after `on_wall_timeout` was called (which
/// should make the run abort itself) and a grace period.
pub(crate) fn run_isolated<T, F, Fut>(
    seed: Seed,
    wall_max: Duration,
    on_wall_timeout: impl FnOnce(),
    body: F,
) -> Result<Option<T>, Box<dyn Any + Send>>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let (sender, receiver) = mpsc::channel();
    let runtime_seed = seed.stream("madsim").0;
    // A fresh thread per case: madsim keeps per-thread context, and std's hash keys are per
    // thread. This is the harness's one sanctioned OS thread, outside any simulation.
    let spawned = std::thread::Builder::new()
        .name(format!("syncsim-case-{seed}"))
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                let runtime =
                    Runtime::with_seed_and_config(runtime_seed, madsim::Config::default());
                let output = runtime.block_on(body());
                // Tasks still queued are dropped with the runtime; one parked on a timer only if
                // its node was killed (World::kill_all), else its sleep keeps the timer alive.
                drop(runtime);
                output
            }));
            // The receiver may be gone after a wall-clock timeout; nothing to do then.
            let _ = sender.send(result);
        })
        .expect("the OS lets us start a thread");
    match receiver.recv_timeout(wall_max) {
        Ok(result) => {
            spawned
                .join()
                .expect("the case thread catches its own panics");
            result.map(Some)
        }
        Err(_) => {
            on_wall_timeout();
            // Grace period: a run that records events aborts at its next event.
            match receiver.recv_timeout(Duration::from_secs(5)) {
                Ok(_) => Ok(None),
                // A process spinning without ever yielding cannot be stopped; leave it.
                Err(_) => Ok(None),
            }
        }
    }
}

/// The clock of the running simulation, held: a read through it skips the thread-local
/// lookup and the two reference counts of [`now`], which every trace event pays.
pub(crate) struct Clock(madsim::time::TimeHandle);

impl Clock {
    /// The clock of the simulation running on this thread.
    pub(crate) fn current() -> Clock {
        Clock(madsim::time::TimeHandle::current())
    }

    /// The current virtual time.
    pub(crate) fn now(&self) -> VirtualTime {
        VirtualTime(self.0.elapsed())
    }
}

/// The current virtual time.
pub fn now() -> VirtualTime {
    VirtualTime(madsim::time::TimeHandle::current().elapsed())
}

/// The current virtual time, or None outside a running simulation (while a runtime is torn
/// down and drops its tasks).
pub fn try_now() -> Option<VirtualTime> {
    madsim::time::TimeHandle::try_current().map(|handle| VirtualTime(handle.elapsed()))
}

/// Sleeps for `duration` of virtual time.
pub async fn sleep(duration: Duration) {
    madsim::time::sleep(duration).await;
}

/// Runs `future` for at most `duration` of virtual time; None when the time ran out.
pub async fn timeout<T>(duration: Duration, future: impl Future<Output = T>) -> Option<T> {
    madsim::time::timeout(duration, future).await.ok()
}

/// Spawns `future` on the node of the calling task. Dropped when that node is killed.
pub fn spawn_local(future: impl Future<Output = ()> + 'static) {
    // Detached: the node's lifetime owns it.
    drop(madsim::task::spawn_local(future));
}

/// Creates a node named `name` whose tasks start with `init` now and after every restart.
pub(crate) fn create_node<F, Fut>(name: &str, init: F) -> NodeRef
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let node = Handle::current()
        .create_node()
        .name(name)
        .init(init)
        .build();
    NodeRef(node.id())
}

/// Creates a node with no process of its own, for tasks a service runs on its own behalf
/// (a server kernel's TCP timers) that must outlive the node of the caller that started them.
/// No fault reaches it: the harness's faults name the nodes of the world, not these.
pub fn create_service_node(name: &str) -> NodeRef {
    NodeRef(Handle::current().create_node().name(name).build().id())
}

/// Spawns `future` on `node` (one made by [`crate::world::World::create_service_node`]);
/// detached, it lives until it returns or the run ends.
pub fn spawn_on(node: NodeRef, future: impl Future<Output = ()> + Send + 'static) {
    let handle = Handle::current()
        .get_node(node.0)
        .expect("a node created in this run");
    drop(handle.spawn(future));
}

/// Kills every task of `node`.
pub(crate) fn kill(node: NodeRef) {
    Handle::current().kill(node.0);
}

/// Kills every task of `node` and runs its `init` again.
pub(crate) fn restart(node: NodeRef) {
    Handle::current().restart(node.0);
}

/// Freezes every task of `node`.
pub(crate) fn pause(node: NodeRef) {
    Handle::current().pause(node.0);
}

/// Unfreezes `node`.
pub(crate) fn resume(node: NodeRef) {
    Handle::current().resume(node.0);
}

/// True when this build runs on the simulator (`--cfg madsim`). Plain `cargo` builds of this
/// workspace always do, through `.cargo/config.toml`; a stray `RUSTFLAGS` silently turns it off.
pub const fn is_simulated() -> bool {
    cfg!(madsim)
}

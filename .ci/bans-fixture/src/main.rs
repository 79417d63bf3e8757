//! Calls every banned API once; never run, only linted. See .ci/check-bans.
#![allow(unused, deprecated, clippy::no_effect_underscore_binding)]

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::time::{Instant, SystemTime};

async fn select_unbiased() {
    let mut first = futures::future::ready(1);
    let mut second = futures::future::ready(2);
    futures::select! {
        _ = first => {},
        _ = second => {},
    }
    futures::join!(futures::future::ready(1), futures::future::ready(2));
}

fn main() {
    let _map: HashMap<u8, u8> = HashMap::new();
    let _set: HashSet<u8> = HashSet::new();
    let _state: RandomState = RandomState::new();
    let _instant: Instant = Instant::now();
    let _system: SystemTime = SystemTime::now();
    std::thread::spawn(|| {});
    std::thread::sleep(std::time::Duration::ZERO);
    let _random: u8 = rand::random();
    let _rng = rand::rng();
    let _old_rng = rand::thread_rng();
    let _ = getrandom::fill(&mut [0u8; 8]);
    let _ = std::fs::read("x");
    let _ = std::fs::read_to_string("x");
    let _ = std::fs::write("x", b"");
    let _ = std::fs::File::open("x");
    let _ = std::fs::File::create("x");
    let _ = std::net::TcpStream::connect("127.0.0.1:1");
    let _ = std::net::TcpListener::bind("127.0.0.1:0");
    let _ = std::net::UdpSocket::bind("127.0.0.1:0");
}

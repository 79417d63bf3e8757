//! Correlation ids as real clients send them (UUID v4, v1, v7 and free-form safe tokens),
//! drawn from the workload's seeded stream, and the consumers' strict check (UUID v4 only).
//!
//! Not modelled: ids longer than a header allows, or unsafe characters (proxies reject them).

use syncsim_sim::{Prng, Ratio};
use uuid::{Builder, Uuid};

/// A fresh UUID v4 from the seeded stream.
pub fn uuid_v4(prng: &mut Prng) -> String {
    Builder::from_random_bytes(random_bytes(prng))
        .into_uuid()
        .to_string()
}

/// The id a client puts on its request: a UUID v4, or with `foreign_id_ratio` one of the
/// other shapes clients use (v1, v7, a token like `abc-123`).
pub fn request_id(prng: &mut Prng, foreign_id_ratio: Ratio, now_millis: u64) -> String {
    if !prng.chance(foreign_id_ratio) {
        return uuid_v4(prng);
    }
    match prng.index(3) {
        0 => {
            // Gregorian 100 ns ticks since 1582-10-15, as v1 ids carry them.
            let ticks = 0x01B2_1DD2_1381_4000 + now_millis * 10_000;
            let node_id: [u8; 6] = random_bytes(prng)[..6].try_into().expect("six bytes");
            let counter = u16::try_from(prng.next_u64() % 0x4000).expect("14 bits");
            Builder::from_gregorian_timestamp(ticks, counter, &node_id)
                .into_uuid()
                .to_string()
        }
        1 => {
            let tail: [u8; 10] = random_bytes(prng)[..10].try_into().expect("ten bytes");
            Builder::from_unix_timestamp_millis(now_millis, &tail)
                .into_uuid()
                .to_string()
        }
        _ => format!("req-{}", prng.next_u64() % 100_000),
    }
}

/// The consumers' validation: a UUID of version 4, nothing else.
pub fn is_uuid_v4(id: &str) -> bool {
    Uuid::parse_str(id).is_ok_and(|uuid| uuid.get_version_num() == 4)
}

fn random_bytes(prng: &mut Prng) -> [u8; 16] {
    let high = prng.next_u64().to_be_bytes();
    let low = prng.next_u64().to_be_bytes();
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&high);
    bytes[8..].copy_from_slice(&low);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncsim_sim::Seed;

    #[test]
    fn v4_passes_and_the_other_shapes_fail_validation() {
        let mut prng = Prng::new(Seed(1).stream("ids"));
        assert!(is_uuid_v4(&uuid_v4(&mut prng)));
        let mut shapes = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let id = request_id(&mut prng, Ratio::new(1, 1), 1_700_000_000_000);
            assert!(!is_uuid_v4(&id), "{id}");
            let version = Uuid::parse_str(&id).map_or(0, |uuid| uuid.get_version_num());
            shapes.insert(version);
        }
        assert_eq!(shapes.into_iter().collect::<Vec<_>>(), [0, 1, 7]);
    }
}

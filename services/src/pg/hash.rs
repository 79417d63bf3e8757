//! `hashtext(text)`: PostgreSQL's `hash_bytes` (Bob Jenkins' lookup3), little-endian path.
//!
//! Applications derive advisory-lock keys with `pg_advisory_xact_lock(hashtext($1))`, so the
//! simulation must reproduce the exact int4 values, collisions included.
//! Not modelled: the big-endian path and non-deterministic collations (PostgreSQL hashes the
//! bytes directly only for deterministic collations, which is the default).
//! Invariant: `hashtext` equals the x86_64 server's value for every input (tests pin the
//! vectors from `postgres-semantics.md` §2.6).

fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

fn final_mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

fn word_le(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .enumerate()
        .fold(0u32, |word, (byte_index, byte)| {
            word | (u32::from(*byte) << (8 * byte_index))
        })
}

/// PostgreSQL's `hash_bytes` over `key`, as an unsigned 32-bit value.
pub fn hash_bytes(key: &[u8]) -> u32 {
    // The C code takes the length as a 32-bit int; keys longer than that wrap the same way.
    let length = key.len() as u32;
    let seed = 0x9e37_79b9_u32.wrapping_add(length).wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (seed, seed, seed);
    let mut rest = key;
    while rest.len() >= 12 {
        a = a.wrapping_add(word_le(&rest[0..4]));
        b = b.wrapping_add(word_le(&rest[4..8]));
        c = c.wrapping_add(word_le(&rest[8..12]));
        mix(&mut a, &mut b, &mut c);
        rest = &rest[12..];
    }
    // The tail: bytes 0..4 go to a, 4..8 to b, 8..11 to c shifted up one byte, because the
    // lowest byte of c is reserved for the length in lookup3's design.
    a = a.wrapping_add(word_le(&rest[..rest.len().min(4)]));
    if rest.len() > 4 {
        b = b.wrapping_add(word_le(&rest[4..rest.len().min(8)]));
    }
    if rest.len() > 8 {
        c = c.wrapping_add(word_le(&rest[8..]) << 8);
    }
    final_mix(&mut a, &mut b, &mut c);
    c
}

/// `hashtext(text) -> int4`, bit-exact with PostgreSQL 15 on little-endian machines.
pub fn hashtext(text: &str) -> i32 {
    hash_bytes(text.as_bytes()) as i32
}

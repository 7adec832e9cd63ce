//! `uniqueString()` and `guid()` as Azure Resource Manager computes them.
//!
//! Azure: `uniqueString` is a 64-bit two-lane MurmurHash3-style hash (seed 0) of the arguments joined with `-`
//! (UTF-8), written as 13 base-32 characters (`a–z2–7`, most significant bits first). `guid` is an RFC 4122
//! name-based UUID v5 (SHA-1) in namespace `11fb06fb-712d-4ddd-98c7-e71bbd588830` of the same joined string.
//! Checked against published outputs of Microsoft's `Azure.Deployments.Expression` (tests below).

const C1: u32 = 0x239B_961B;
const C2: u32 = 0xAB0E_9789;

fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

fn le(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b[..bytes.len()].copy_from_slice(bytes);
    u32::from_le_bytes(b)
}

fn hash64(data: &[u8]) -> u64 {
    let (mut h1, mut h2) = (0u32, 0u32);
    let blocks = data.chunks_exact(8);
    let tail = blocks.remainder();
    for block in blocks {
        let k1 = le(&block[..4])
            .wrapping_mul(C1)
            .rotate_left(15)
            .wrapping_mul(C2);
        h1 = (h1 ^ k1)
            .rotate_left(19)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x561C_CD1B);
        let k2 = le(&block[4..])
            .wrapping_mul(C2)
            .rotate_left(17)
            .wrapping_mul(C1);
        h2 = (h2 ^ k2)
            .rotate_left(13)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x0BCA_A747);
    }
    if !tail.is_empty() {
        let (a, b) = tail.split_at(tail.len().min(4));
        h1 ^= le(a).wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        if !b.is_empty() {
            h2 ^= le(b).wrapping_mul(C2).rotate_left(17).wrapping_mul(C1);
        }
    }
    let len = data.len() as u32;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    ((h2 as u64) << 32) | h1 as u64
}

/// `uniqueString(parts…)`.
pub fn unique_string(parts: &[&str]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut v = hash64(parts.join("-").as_bytes());
    let mut out = String::with_capacity(13);
    for _ in 0..13 {
        out.push(ALPHABET[(v >> 59) as usize] as char);
        v <<= 5;
    }
    out
}

/// `guid(parts…)`.
pub fn guid(parts: &[&str]) -> String {
    let namespace = uuid::Uuid::from_u128(0x11fb06fb_712d_4ddd_98c7_e71bbd588830);
    uuid::Uuid::new_v5(&namespace, parts.join("-").as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_string_matches_published_outputs() {
        // Outputs of Microsoft's Azure.Deployments.Expression quoted in public tests and docs.
        assert_eq!(unique_string(&["tyeth"]), "zcztcwvu6iyg6");
        assert_eq!(
            unique_string(&[
                "/subscriptions/3c7f956b-55ee-4686-9d30-da1eb631dc59/resourceGroups/rg-devopsshieldek010dev"
            ]),
            "fd63l2gacbtca"
        );
        assert_eq!(
            unique_string(&[
                "/subscriptions/00000000-0000-0000-0000-000000000000",
                "resource-id"
            ]),
            "cwvxuqg24sifi"
        );
        assert_eq!(unique_string(&["hello", "world"]), "a7wkljktk6wne");
        assert_eq!(hash64(b"hello-world"), 571013382255652050);
        assert_eq!(unique_string(&[""]), "aaaaaaaaaaaaa");
    }

    #[test]
    fn guid_is_uuid_v5_in_the_arm_namespace() {
        let g = guid(&["a", "b", "c"]);
        assert_eq!(g, guid(&["a-b-c"]));
        assert_eq!(&g[14..15], "5");
        assert!(matches!(&g[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(guid(&["a"]), "3703365d-5a9f-59b4-bca7-b9681389e4c1");
    }
}

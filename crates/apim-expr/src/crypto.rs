//! `System.Security.Cryptography` hashes and HMACs, and APIM's `byte[].Encrypt/Decrypt(alg, key, iv)`
//! extensions, on RustCrypto crates.

use aes::cipher::{
    BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _, block_padding::Pkcs7,
};
use rhai::Dynamic;
use sha2::Digest as _;

use crate::value::{Obj, Res, obj, record, shared, throw};

/// The hash algorithm types apim-emu implements (short .NET names).
const HASHES: &[&str] = &[
    "MD5",
    "SHA1",
    "SHA256",
    "SHA384",
    "SHA512",
    "HMACMD5",
    "HMACSHA1",
    "HMACSHA256",
    "HMACSHA384",
    "HMACSHA512",
];

/// `SHA256.Create()`, `new SHA256Managed()`, `new HMACSHA256(key)`: a hash object. `short` is the .NET
/// short type name; `…Managed` and `…CryptoServiceProvider` variants are the same algorithm.
pub fn hasher(short: &str, key: Option<Vec<u8>>) -> Res {
    let name = short
        .trim_end_matches("Managed")
        .trim_end_matches("CryptoServiceProvider");
    let Some(ty) = HASHES.iter().find(|h| **h == name) else {
        return Err(crate::value::not_implemented(format!("'{short}'")));
    };
    let mut fields = vec![("Algorithm", Dynamic::from(name.to_string()))];
    if ty.starts_with("HMAC") {
        // Azure (.NET): a parameterless HMAC gets a random 64-byte key; apim-emu's is deterministic.
        let key = key.unwrap_or_else(|| {
            let g = crate::context::next_guid().to_be_bytes();
            g.iter().cycle().take(64).copied().collect()
        });
        fields.push(("Key", obj(Obj::Bytes(shared(key)))));
    }
    Ok(record(ty, fields))
}

/// Whether a record type is one of [`hasher`]'s.
pub fn is_hasher(ty: &str) -> bool {
    HASHES.contains(&ty)
}

/// The digest size in bits, as `HashSize` reports it.
pub fn hash_size(ty: &str) -> i32 {
    match ty.trim_start_matches("HMAC") {
        "MD5" => 128,
        "SHA1" => 160,
        "SHA256" => 256,
        "SHA384" => 384,
        _ => 512,
    }
}

/// `ComputeHash(data)` for a hasher record type, with the HMAC key when there is one.
pub fn compute(ty: &str, key: Option<&[u8]>, data: &[u8]) -> Vec<u8> {
    fn mac<M: hmac::Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length.
        match <M as hmac::digest::KeyInit>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    let key = key.unwrap_or_default();
    match ty {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA1" => sha1::Sha1::digest(data).to_vec(),
        "SHA256" => sha2::Sha256::digest(data).to_vec(),
        "SHA384" => sha2::Sha384::digest(data).to_vec(),
        "SHA512" => sha2::Sha512::digest(data).to_vec(),
        "HMACMD5" => mac::<hmac::Hmac<md5::Md5>>(key, data),
        "HMACSHA1" => mac::<hmac::Hmac<sha1::Sha1>>(key, data),
        "HMACSHA256" => mac::<hmac::Hmac<sha2::Sha256>>(key, data),
        "HMACSHA384" => mac::<hmac::Hmac<sha2::Sha384>>(key, data),
        _ => mac::<hmac::Hmac<sha2::Sha512>>(key, data),
    }
}

fn crypto_error(message: &str) -> Box<rhai::EvalAltResult> {
    throw("CryptographicException", message)
}

/// APIM's `input.Encrypt(alg, key, iv)` / `input.Decrypt(alg, key, iv)`.
/// Azure: the algorithm is created by name (`SymmetricAlgorithm.Create(alg)`) with its defaults, which for
/// AES/Rijndael are CBC mode and PKCS7 padding.
pub fn symmetric(encrypt: bool, alg: &str, input: &[u8], key: &[u8], iv: &[u8]) -> Res<Vec<u8>> {
    let short = alg.rsplit('.').next().unwrap_or(alg);
    if !matches!(
        short,
        "Aes" | "AesManaged" | "AesCryptoServiceProvider" | "Rijndael" | "RijndaelManaged"
    ) {
        return Err(crate::value::not_implemented(format!(
            "the symmetric algorithm '{alg}' (only AES/Rijndael)"
        )));
    }
    if iv.len() != 16 {
        return Err(crypto_error(
            "Specified initialization vector (IV) does not match the block size for this algorithm.",
        ));
    }
    macro_rules! run {
        ($aes:ty) => {
            if encrypt {
                cbc::Encryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(|_| {
                        crypto_error("Specified key is not a valid size for this algorithm.")
                    })?
                    .encrypt_padded_vec_mut::<Pkcs7>(input)
            } else {
                cbc::Decryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(|_| {
                        crypto_error("Specified key is not a valid size for this algorithm.")
                    })?
                    .decrypt_padded_vec_mut::<Pkcs7>(input)
                    .map_err(|_| crypto_error("Padding is invalid and cannot be removed."))?
            }
        };
    }
    Ok(match key.len() {
        16 => run!(aes::Aes128),
        24 => run!(aes::Aes192),
        32 => run!(aes::Aes256),
        _ => {
            return Err(crypto_error(
                "Specified key is not a valid size for this algorithm.",
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn known_answers() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex(&compute(
                "HMACSHA256",
                Some(b"Jefe"),
                b"what do ya want for nothing?"
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&compute("MD5", None, b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        // FIPS-197 / SP 800-38A F.2.1: AES-128-CBC, first block (plus a PKCS7 block).
        let key = [
            0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf,
            0x4f, 0x3c,
        ];
        let iv: Vec<u8> = (0u8..16).collect();
        let plain = [
            0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93,
            0x17, 0x2a,
        ];
        let sealed = symmetric(true, "Aes", &plain, &key, &iv).expect("valid key");
        assert_eq!(hex(&sealed[..16]), "7649abac8119b246cee98e9b12e9197d");
        assert_eq!(sealed.len(), 32);
        let opened = symmetric(false, "Rijndael", &sealed, &key, &iv).expect("round trip");
        assert_eq!(opened, plain);
        assert!(symmetric(true, "Aes", &plain, &key[..5], &iv).is_err());
    }
}

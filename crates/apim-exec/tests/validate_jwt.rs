//! validate-jwt on the virtual clock: symmetric keys, RSA keys given as n/e and from an openid-config's JWKS
//! (fetched through the scripted upstream, then cached), lifetime with clock skew, audiences, issuers,
//! required claims, and the errors on-error sees.

mod support;

use std::time::Duration;

use base64::Engine as _;
use support::*;

const SECRET_B64: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHMtMzItYnl0ZXMhISE=";

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token signed with HS256 and the test secret.
fn hs256(claims: serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_base64_secret(SECRET_B64).expect("key");
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("token")
}

/// A token signed with RS256 and the test RSA key, with `kid`.
fn rs256(claims: serde_json::Value, kid: &str) -> String {
    let der = base64::engine::general_purpose::STANDARD
        .decode(rsa_key::TEST_RSA_PKCS8.concat())
        .expect("base64");
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("a PKCS#8 RSA key");
    let header = b64url(
        serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": kid })
            .to_string()
            .as_bytes(),
    );
    let payload = b64url(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("signs");
    format!("{input}.{}", b64url(&signature))
}

fn policy(keys: &str, extra: &str) -> String {
    format!(
        r#"<policies>
  <inbound>
    <validate-jwt header-name="Authorization" failed-validation-httpcode="401" clock-skew="30" output-token-variable-name="jwt">
      {keys}
      <audiences><audience>api://orders</audience></audiences>
      <issuers><issuer>https://issuer.local/</issuer></issuers>
      {extra}
    </validate-jwt>
    <return-response>
      <set-status code="200" reason="OK" />
      <set-body>@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("sub", "?"))</set-body>
    </return-response>
  </inbound>
  <on-error>
    <set-header name="x-reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header>
  </on-error>
</policies>"#
    )
}

fn request(token: Option<&str>) -> apim_exec::Incoming {
    let mut incoming = post("{}");
    if let Some(t) = token {
        incoming
            .headers
            .push(("Authorization".into(), format!("Bearer {t}")));
    }
    incoming
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Seconds since the Unix epoch on the harness's virtual clock.
fn now(h: &Harness) -> i64 {
    use apim_exec::Clock as _;
    h.clock
        .wall()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn claims(h: &Harness, overrides: serde_json::Value) -> serde_json::Value {
    let mut c = serde_json::json!({
        "sub": "ada", "aud": "api://orders", "iss": "https://issuer.local/",
        "exp": now(h) + 600, "roles": ["reader", "writer"], "scp": "orders.read orders.write"
    });
    for (k, v) in overrides.as_object().expect("an object") {
        if v.is_null() {
            c.as_object_mut().expect("object").remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

#[test]
fn a_symmetric_key_validates_signature_lifetime_audience_and_issuer() {
    let h = harness(
        &policy(
            &format!("<issuer-signing-keys><key>{SECRET_B64}</key></issuer-signing-keys>"),
            "",
        ),
        None,
        Default::default(),
    );
    let ok = h.run(request(Some(&hs256(claims(&h, serde_json::json!({}))))));
    assert_eq!((ok.status, ok.body.as_deref()), (200, Some("ada")));

    let reason = |token: Option<String>| {
        let out = h.run(request(token.as_deref()));
        (
            out.status,
            header(&out.headers, "x-reason").map(str::to_string),
        )
    };
    assert_eq!(reason(None), (401, Some("TokenNotPresent".into())));
    let c = |o: serde_json::Value| hs256(claims(&h, o));
    assert_eq!(
        reason(Some(c(serde_json::json!({ "aud": "api://other" })))),
        (401, Some("TokenAudienceNotAllowed".into()))
    );
    assert_eq!(
        reason(Some(c(serde_json::json!({ "iss": "https://evil.local/" })))),
        (401, Some("TokenIssuerNotAllowed".into()))
    );
    assert_eq!(
        reason(Some(c(serde_json::json!({ "exp": null })))),
        (401, Some("TokenExpired".into())),
        "require-expiration-time defaults to true"
    );
    // Expired 20 s ago: inside the 30 s clock skew; 40 s ago: outside.
    assert_eq!(
        reason(Some(c(serde_json::json!({ "exp": now(&h) - 20 })))).0,
        200
    );
    assert_eq!(
        reason(Some(c(serde_json::json!({ "exp": now(&h) - 40 })))),
        (401, Some("TokenExpired".into()))
    );
    // Signed with another key.
    let other = jsonwebtoken::EncodingKey::from_secret(b"another secret, also 32 bytes long");
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims(&h, serde_json::json!({})),
        &other,
    )
    .expect("token");
    assert_eq!(
        reason(Some(forged)),
        (401, Some("TokenSignatureInvalid".into()))
    );
    assert_eq!(
        reason(Some("not-a-jwt".into())),
        (401, Some("JwtInvalid".into()))
    );
    // A valid token stops being valid as the virtual clock passes its expiry (plus skew).
    let token = c(serde_json::json!({}));
    assert_eq!(reason(Some(token.clone())).0, 200);
    h.advance(Duration::from_secs(631));
    assert_eq!(reason(Some(token)), (401, Some("TokenExpired".into())));
}

#[test]
fn required_claims_match_all_or_any_values() {
    let h = harness(
        &policy(
            &format!("<issuer-signing-keys><key>{SECRET_B64}</key></issuer-signing-keys>"),
            r#"<required-claims>
                 <claim name="roles" match="any"><value>admin</value><value>writer</value></claim>
                 <claim name="scp" match="all" separator=" "><value>orders.read</value></claim>
               </required-claims>"#,
        ),
        None,
        Default::default(),
    );
    let run = |o: serde_json::Value| {
        let out = h.run(request(Some(&hs256(claims(&h, o)))));
        (
            out.status,
            header(&out.headers, "x-reason").map(str::to_string),
        )
    };
    assert_eq!(run(serde_json::json!({})).0, 200);
    assert_eq!(
        run(serde_json::json!({ "roles": ["reader"] })),
        (401, Some("TokenClaimValueNotAllowed".into()))
    );
    assert_eq!(
        run(serde_json::json!({ "scp": "orders.write" })),
        (401, Some("TokenClaimValueNotAllowed".into()))
    );
    assert_eq!(
        run(serde_json::json!({ "roles": null })),
        (401, Some("TokenClaimNotFound".into()))
    );
}

#[test]
fn rsa_keys_come_from_n_and_e_or_from_an_openid_configuration_fetched_once() {
    let h = harness(
        &policy(
            &format!(
                r#"<issuer-signing-keys><key id="local" n="{}" e="{}" /></issuer-signing-keys>"#,
                rsa_key::TEST_RSA_N,
                rsa_key::TEST_RSA_E
            ),
            "",
        ),
        None,
        Default::default(),
    );
    assert_eq!(
        h.run(request(Some(&rs256(
            claims(&h, serde_json::json!({})),
            "local"
        ))))
        .status,
        200
    );
    let out = h.run(request(Some(&rs256(
        claims(&h, serde_json::json!({})),
        "rotated",
    ))));
    assert_eq!(
        header(&out.headers, "x-reason"),
        Some("TokenSignatureKeyNotFound"),
        "no key has that kid"
    );

    let h = harness(
        &policy(
            r#"<openid-config url="http://login.local/.well-known/openid-configuration" />"#,
            "",
        ),
        None,
        Default::default(),
    );
    let jwks: &'static str = Box::leak(
        serde_json::json!({ "keys": [
            { "kty": "RSA", "kid": "entra-1", "n": rsa_key::TEST_RSA_N, "e": rsa_key::TEST_RSA_E }
        ] })
        .to_string()
        .into_boxed_str(),
    );
    h.upstream.script(
        "login.local",
        vec![ok(
            r#"{"issuer":"https://issuer.local/","jwks_uri":"http://keys.local/discovery/keys"}"#,
        )],
    );
    h.upstream.script("keys.local", vec![ok(jwks)]);
    for _ in 0..3 {
        let out = h.run(request(Some(&rs256(
            claims(&h, serde_json::json!({})),
            "entra-1",
        ))));
        assert_eq!((out.status, out.body.as_deref()), (200, Some("ada")));
    }
    assert_eq!(
        h.upstream.seen().len(),
        2,
        "the configuration and its keys are fetched once, then cached"
    );
    h.advance(Duration::from_secs(3600));
    let _ = h.run(request(Some(&rs256(
        claims(&h, serde_json::json!({})),
        "entra-1",
    ))));
    assert_eq!(
        h.upstream.seen().len(),
        4,
        "and fetched again after an hour"
    );
}

const TENANT: &str = "11111111-2222-3333-4444-555555555555";

#[test]
fn validate_azure_ad_token_uses_the_tenants_configuration_issuer_and_client_applications() {
    let h = harness(
        &format!(
            r#"<policies>
  <inbound>
    <validate-azure-ad-token tenant-id="{TENANT}" output-token-variable-name="jwt">
      <client-application-ids><application-id>client-app</application-id></client-application-ids>
      <backend-application-ids><application-id>backend-app</application-id></backend-application-ids>
    </validate-azure-ad-token>
    <return-response><set-status code="200" reason="OK" /></return-response>
  </inbound>
  <on-error>
    <set-header name="x-reason" exists-action="override"><value>@(context.LastError.Source + "/" + context.LastError.Reason)</value></set-header>
  </on-error>
</policies>"#
        ),
        None,
        Default::default(),
    );
    let config: &'static str = Box::leak(
        serde_json::json!({
            "issuer": format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
            "jwks_uri": format!("https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"),
        })
        .to_string()
        .into_boxed_str(),
    );
    let jwks: &'static str = Box::leak(
        serde_json::json!({ "keys": [
            { "kty": "RSA", "kid": "entra", "n": rsa_key::TEST_RSA_N, "e": rsa_key::TEST_RSA_E }
        ] })
        .to_string()
        .into_boxed_str(),
    );
    h.upstream
        .script("login.microsoftonline.com", vec![ok(config), ok(jwks)]);
    let token = |o: serde_json::Value| {
        let mut c = serde_json::json!({
            "iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0"), "tid": TENANT,
            "aud": "api://backend-app", "azp": "client-app", "exp": now(&h) + 600, "sub": "ada"
        });
        for (k, v) in o.as_object().expect("object") {
            c[k] = v.clone();
        }
        rs256(c, "entra")
    };
    let run = |t: String| {
        let out = h.run(request(Some(&t)));
        (
            out.status,
            header(&out.headers, "x-reason").map(str::to_string),
        )
    };
    assert_eq!(run(token(serde_json::json!({}))), (200, None));
    assert_eq!(
        run(token(serde_json::json!({ "iss": format!("https://sts.windows.net/{TENANT}/"), "appid": "client-app" }))).0,
        200,
        "the v1 issuer of the same tenant"
    );
    assert_eq!(
        run(token(
            serde_json::json!({ "iss": "https://login.microsoftonline.com/another-tenant/v2.0" })
        )),
        (
            401,
            Some("validate-azure-ad-token/TokenIssuerNotAllowed".into())
        )
    );
    assert_eq!(
        run(token(serde_json::json!({ "azp": "someone-else" }))),
        (
            401,
            Some("validate-azure-ad-token/TokenClientApplicationNotAllowed".into())
        )
    );
    assert_eq!(
        run(token(serde_json::json!({ "aud": "api://other" }))),
        (
            401,
            Some("validate-azure-ad-token/TokenAudienceNotAllowed".into())
        )
    );
    let seen = h.upstream.seen();
    assert_eq!(seen.len(), 2, "configuration and keys fetched once");
    assert_eq!(
        seen[0].url,
        format!("https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration")
    );
}

#[test]
fn a_failed_key_fetch_is_retried_soon_and_an_unknown_kid_fetches_the_keys_again() {
    let h = harness(
        &policy(
            r#"<openid-config url="http://login.local/.well-known/openid-configuration" />"#,
            "",
        ),
        None,
        Default::default(),
    );
    let jwks = |kid: &str| -> &'static str {
        Box::leak(
            serde_json::json!({ "keys": [
                { "kty": "RSA", "kid": kid, "n": rsa_key::TEST_RSA_N, "e": rsa_key::TEST_RSA_E }
            ] })
            .to_string()
            .into_boxed_str(),
        )
    };
    h.upstream.script(
        "login.local",
        vec![ok(
            r#"{"issuer":"https://issuer.local/","jwks_uri":"http://keys.local/keys"}"#,
        )],
    );
    h.upstream.script(
        "keys.local",
        vec![
            Answer::Status(500, vec![], "down"),
            ok(jwks("k1")),
            ok(jwks("k2")),
        ],
    );
    let status = |kid: &str| {
        h.run(request(Some(&rs256(
            claims(&h, serde_json::json!({})),
            kid,
        ))))
        .status
    };
    assert_eq!(status("k1"), 401, "the key service answered 500");
    assert_eq!(status("k1"), 401, "the failure is remembered for a moment");
    h.advance(Duration::from_secs(30));
    assert_eq!(status("k1"), 200, "then fetched again");
    // The keys rotated: a token with the new kid is refused until five minutes after the last fetch.
    assert_eq!(status("k2"), 401);
    h.advance(Duration::from_secs(300));
    assert_eq!(status("k2"), 200);
}

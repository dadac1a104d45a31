//! Application Default Credentials, offline: a service-account key (made with
//! `openssl` for the test) whose `token_uri` points at a token server on
//! 127.0.0.1:0. Tokens are fetched with a signed JWT, cached, fetched anew
//! before they expire or after a 401, and never appear in Debug output or
//! error messages. Discovery, which reads the environment, is checked in
//! child processes: no test changes the environment of this one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use canary::core::error::BackendError;
use canary::google::{AdcToken, Auth, CredentialKind, TokenSource};
use canary::platform::cloud_run::{CloudRun, CloudRunSettings};
use canary::platform::Platform;
use canary_fakes::cloud_run::FakeCloudRun;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the token server answers, and what it saw.
struct TokenServer {
    url: String,
    hits: Arc<AtomicUsize>,
    /// (status, expires_in) for each request, the last one repeated.
    claims: Arc<Mutex<Vec<Value>>>,
}

fn b64url_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' | b'+' => 62,
            _ => 63,
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c) << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.replace("%3A", ":").replace("%2F", "/"))
    })
}

/// Serves `POST /token`: tokens `ya29.local-1`, `ya29.local-2`, … valid for
/// `expires_in` seconds, or `status` errors.
async fn token_server(status: u16, expires_in: u64) -> TokenServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let claims = Arc::new(Mutex::new(Vec::new()));
    let (h, c) = (hits.clone(), claims.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (h, c) = (h.clone(), c.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break body.to_string();
                        }
                    }
                };
                let n = h.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some(jwt) = form_value(&body, "assertion") {
                    let parts: Vec<&str> = jwt.split('.').collect();
                    if parts.len() == 3 {
                        if let Ok(v) = serde_json::from_slice::<Value>(&b64url_decode(parts[1])) {
                            c.lock().unwrap().push(v);
                        }
                    }
                }
                let grant_ok = form_value(&body, "grant_type").as_deref()
                    == Some("urn:ietf:params:oauth:grant-type:jwt-bearer");
                let (code, reply) = if status == 200 && grant_ok {
                    (
                        200,
                        json!({"access_token": format!("ya29.local-{n}"), "expires_in": expires_in, "token_type": "Bearer"}),
                    )
                } else {
                    (
                        status.max(400),
                        json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
                    )
                };
                let reply = reply.to_string();
                let resp = format!(
                    "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    TokenServer { url, hits, claims }
}

/// A fresh RSA key (PKCS#8 PEM) from openssl.
fn private_key(dir: &Path) -> String {
    let path = dir.join("key.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&path)
        .output()
        .expect("openssl is needed to make a test key (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(path).unwrap()
}

const EMAIL: &str = "canary-cockpit@emergence-469005.iam.gserviceaccount.com";

fn key_file(dir: &Path, pem: &str, token_uri: &str) -> PathBuf {
    let path = dir.join("sa.json");
    let key = json!({
        "type": "service_account",
        "project_id": "emergence-469005",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    });
    std::fs::write(&path, key.to_string()).unwrap();
    path
}

#[tokio::test]
async fn a_service_account_key_gets_cached_tokens_from_its_token_uri() {
    let dir = tempfile::tempdir().unwrap();
    let pem = private_key(dir.path());
    let server = token_server(200, 3600).await;
    let path = key_file(dir.path(), &pem, &server.url);
    let adc = AdcToken::key_file(&path);
    assert_eq!(adc.token().await.unwrap(), "ya29.local-1");
    assert_eq!(adc.token().await.unwrap(), "ya29.local-1", "cached");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    assert_eq!(adc.kind().await, Some(CredentialKind::ServiceAccountKey));
    // The JWT: issued by the key's account, for its token_uri, cloud-platform scope.
    let claims = server.claims.lock().unwrap()[0].clone();
    assert_eq!(claims["iss"], EMAIL);
    assert_eq!(claims["aud"], server.url.as_str());
    assert!(claims["scope"]
        .as_str()
        .unwrap()
        .contains("https://www.googleapis.com/auth/cloud-platform"));
    // A refused token: the next one is fetched anew; a refusal of a token
    // already replaced changes nothing.
    adc.refused("ya29.local-1").await;
    assert_eq!(adc.token().await.unwrap(), "ya29.local-2");
    adc.refused("ya29.local-1").await;
    assert_eq!(adc.token().await.unwrap(), "ya29.local-2");
    adc.invalidate().await;
    assert_eq!(adc.token().await.unwrap(), "ya29.local-3");
    // Nothing secret in Debug output.
    for shown in [
        format!("{adc:?}"),
        format!("{:?}", Auth::service_account_key(&path)),
    ] {
        assert!(!shown.contains("ya29"), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }
}

#[tokio::test]
async fn tokens_close_to_expiry_are_fetched_anew() {
    let dir = tempfile::tempdir().unwrap();
    let pem = private_key(dir.path());
    // Valid 15 s: inside the refresh margin, so never reused.
    let server = token_server(200, 15).await;
    let adc = AdcToken::key_file(key_file(dir.path(), &pem, &server.url));
    assert_eq!(adc.token().await.unwrap(), "ya29.local-1");
    assert_eq!(adc.token().await.unwrap(), "ya29.local-2");
}

#[tokio::test]
async fn cloud_run_uses_adc_and_retries_a_refused_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let pem = private_key(dir.path());
    let server = token_server(200, 3600).await;
    let path = key_file(dir.path(), &pem, &server.url);
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    // The API only takes the second token: the first is refused (401), the
    // cache is dropped, a fresh token is fetched and the call goes through.
    fake.require_token(Some("ya29.local-2"));
    let settings = CloudRunSettings::new(
        &at.project,
        &at.region,
        &at.service,
        Auth::service_account_key(&path),
    )
    .with_endpoint(url);
    let cr = CloudRun::new(settings).unwrap();
    let s = cr.snapshot().await.unwrap();
    assert_eq!(s.service, "emergence-app");
    let auths: Vec<Option<String>> = fake
        .requests()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert!(auths.contains(&Some("Bearer ya29.local-1".into())));
    assert_eq!(
        auths.last().unwrap().as_deref(),
        Some("Bearer ya29.local-2")
    );
    assert!(!format!("{cr:?}").contains("ya29"));
}

#[tokio::test]
async fn failures_explain_without_quoting_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let pem = private_key(dir.path());
    let server = token_server(400, 3600).await;
    let adc = AdcToken::key_file(key_file(dir.path(), &pem, &server.url));
    let err = adc.token().await.unwrap_err();
    let BackendError::Auth(m) = &err else {
        panic!("expected Auth, got {err:?}")
    };
    assert!(m.contains("service-account key"), "{m}");
    assert!(m.contains("token request failed"), "{m}");
    assert!(m.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{m}");
    assert!(!m.contains("PRIVATE KEY") && !m.contains("ya29"), "{m}");

    // A key file that is not a key.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, r#"{"type":"service_account","private_key":"not a key","client_email":"x","token_uri":"http://127.0.0.1:9/"}"#).unwrap();
    let err = AdcToken::key_file(&broken).token().await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Auth(m) if m.contains("cannot be used") && !m.contains("not a key")),
        "{err:?}"
    );
    let missing = AdcToken::key_file(dir.path().join("nope.json"))
        .token()
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, BackendError::Auth(m) if m.contains("nope.json")),
        "{missing:?}"
    );
}

/// Set in the child processes of [`discovery_follows_the_adc_order`]: the
/// case the child checks, under the environment its parent gave it.
const DISCOVERY_CASE: &str = "CANARY_TEST_ADC_CASE";

/// `GOOGLE_APPLICATION_CREDENTIALS`, then gcloud's ADC file under `$HOME`.
/// Discovery reads the process environment, so each case runs in a child
/// process (this test again, see [`discovery_case`]) whose environment is set
/// with `Command::env`: the tests running beside this one in the same process
/// never see `HOME` change under them.
#[tokio::test]
async fn discovery_follows_the_adc_order() {
    if let Ok(case) = std::env::var(DISCOVERY_CASE) {
        return discovery_child(&case).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let pem = private_key(dir.path());
    let server = token_server(200, 3600).await;
    let path = key_file(dir.path(), &pem, &server.url);
    let home = dir.path().join("home");

    discovery_case("key named by the variable", &home, Some(&path)).await;

    // A user-credentials file named by the variable is refused with a reason.
    let user = dir.path().join("user.json");
    std::fs::write(
        &user,
        r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}"#,
    )
    .unwrap();
    discovery_case("user credentials named by the variable", &home, Some(&user)).await;

    // No variable: gcloud's ADC file (here a service-account key).
    let adc_dir = home.join(".config/gcloud");
    std::fs::create_dir_all(&adc_dir).unwrap();
    std::fs::copy(&path, adc_dir.join("application_default_credentials.json")).unwrap();
    discovery_case("gcloud's ADC file", &home, None).await;
    assert_eq!(server.hits.load(Ordering::SeqCst), 2, "two tokens fetched");
}

/// Runs [`discovery_follows_the_adc_order`] again in a child process of this
/// test binary for `case`, with `HOME` and `GOOGLE_APPLICATION_CREDENTIALS`
/// (removed when `None`); fails with the child's output when the child fails.
async fn discovery_case(case: &str, home: &Path, credentials: Option<&Path>) {
    // The test's name inside this binary: the module path without the crate.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let name = format!("{module}::discovery_follows_the_adc_order");
    let mut cmd = tokio::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", &name, "--nocapture", "--test-threads=1"])
        .env(DISCOVERY_CASE, case)
        .env("HOME", home);
    match credentials {
        Some(path) => cmd.env("GOOGLE_APPLICATION_CREDENTIALS", path),
        None => cmd.env_remove("GOOGLE_APPLICATION_CREDENTIALS"),
    };
    // Awaited, not blocked on: the token server runs on this runtime.
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "case {case:?} in a child process: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child's side of [`discovery_case`]: discovery under the environment
/// it was started with.
async fn discovery_child(case: &str) {
    let adc = AdcToken::discover();
    match case {
        "key named by the variable" => {
            assert_eq!(adc.token().await.unwrap(), "ya29.local-1");
            assert_eq!(adc.kind().await, Some(CredentialKind::ServiceAccountKey));
        }
        "user credentials named by the variable" => {
            let err = adc.token().await.unwrap_err();
            assert!(
                matches!(&err, BackendError::Auth(m) if m.contains("authorized_user")),
                "{err:?}"
            );
        }
        "gcloud's ADC file" => assert_eq!(adc.token().await.unwrap(), "ya29.local-2"),
        other => panic!("{DISCOVERY_CASE}: no case {other:?}"),
    }
}

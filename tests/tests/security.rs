//! TLS and SASL on the Kafka listener with a real client (librdkafka through confluent-kafka):
//! SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN over TLS for a configured user whose password is
//! an environment secret, a wrong password refused, a plaintext client on the TLS port closed
//! while others are served, mutual TLS naming the client by its certificate, and a rotated
//! certificate taken by new connections while an open one keeps working. Certificates are
//! made for each test with `openssl`.

use kafkatwin_tests::{Broker, Proxy, ProxyOptions, create_topic, last_json, python_script};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl ran");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`, `ca-key.pem`) in a fresh folder.
fn ca() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kafkatwin-test-tls-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=kt-test-ca",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
        ],
    );
    dir
}

/// `<name>.pem` and `<name>-key.pem` signed by the folder's CA, for `cn`, naming 127.0.0.1.
fn cert(dir: &Path, name: &str, cn: &str) {
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("ext");
    let (key, csr, pem) = (
        format!("{name}-key.pem"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ],
    );
}

fn path(dir: &Path, file: &str) -> String {
    dir.join(file).display().to_string()
}

/// `server.tls` with the folder's `server.pem` and `server-key.pem`.
fn tls_yaml(dir: &Path) -> String {
    format!(
        "  tls: {{ cert_file: \"{}\", key_file: \"{}\" }}\n",
        path(dir, "server.pem"),
        path(dir, "server-key.pem")
    )
}

/// `secure_client.py` through `proxy` with `args`: its report.
fn round_trip(proxy: &Proxy, topic: &str, args: &[&str]) -> Value {
    let out = python_script("secure_client.py")
        .args([
            "--bootstrap",
            &proxy.bootstrap(),
            "--topic",
            topic,
            "--timeout",
            "20",
        ])
        .args(args)
        .output()
        .expect("client ran");
    let report = last_json(&out.stdout);
    assert!(
        !report.is_null(),
        "no report: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        proxy.log()
    );
    report
}

const PASSWORD: &str = "s3cret, with = signs";

#[test]
fn scram_and_plain_over_tls_for_configured_users() {
    let dir = ca();
    cert(&dir, "server", "kafkatwin-test");
    let broker = Broker::start("a");
    create_topic(&broker.addr(), "secured", 1);
    let proxy = Proxy::start_with(
        &[&broker],
        ProxyOptions {
            server_yaml: tls_yaml(&dir),
            extra_yaml:
                "auth:\n  users:\n    - { username: alice, password: \"${env:ALICE_PASSWORD}\" }\n"
                    .into(),
            env: vec![("ALICE_PASSWORD".into(), PASSWORD.into())],
            ..Default::default()
        },
    );
    let ca_file = path(&dir, "ca.pem");
    let mut produced = 0;
    for mechanism in ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] {
        let r = round_trip(
            &proxy,
            "secured",
            &[
                "--protocol",
                "SASL_SSL",
                "--ca",
                &ca_file,
                "--mechanism",
                mechanism,
                "--user",
                "alice",
                "--password",
                PASSWORD,
                "--count",
                "10",
            ],
        );
        assert_eq!(r["produced"], 10, "{mechanism}: {r}\n{}", proxy.log());
        produced += 10;
        assert_eq!(
            r["consumed"].as_u64(),
            Some(produced),
            "{mechanism}: every record so far, once: {r}"
        );
    }
    // The Java client, SCRAM-SHA-512 over TLS.
    let out = kafkatwin_tests::java_program("Secure.java")
        .args([
            "--bootstrap",
            &proxy.bootstrap(),
            "--topic",
            "secured",
            "--ca",
            &ca_file,
        ])
        .args(["--user", "alice", "--password", PASSWORD, "--count", "5"])
        .output()
        .expect("java ran");
    let java = last_json(&out.stdout);
    assert_eq!(
        java["produced"],
        5,
        "{java}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    produced += 5;
    assert_eq!(java["consumed"].as_u64(), Some(produced), "{java}");
    // A wrong password: refused, and nothing written.
    let r = round_trip(
        &proxy,
        "secured",
        &[
            "--protocol",
            "SASL_SSL",
            "--ca",
            &ca_file,
            "--mechanism",
            "SCRAM-SHA-512",
            "--user",
            "alice",
            "--password",
            "wrong",
            "--count",
            "1",
            "--timeout",
            "8",
        ],
    );
    assert_eq!(r["produced"], 0, "{r}");
    let errors = r["errors"].to_string();
    assert!(
        errors.contains("Authentication failed") || errors.contains("AUTHENTICATION"),
        "{r}"
    );
    assert!(
        proxy
            .log()
            .contains("login refused: user alice: invalid credentials"),
        "{}",
        proxy.log()
    );

    // A plaintext client on the TLS port: closed, with one log line.
    let mut plain = std::net::TcpStream::connect(proxy.bootstrap()).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let api_versions: &[u8] = &[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0, 0];
    plain.write_all(api_versions).expect("write");
    let mut buf = [0u8; 64];
    let n = plain.read(&mut buf).unwrap_or(0);
    assert!(
        n == 0 || buf[..n].starts_with(&[0x15]),
        "a plaintext client got a Kafka answer on the TLS port: {:?}",
        &buf[..n]
    );
    assert!(
        proxy.log().contains("TLS handshake failed"),
        "{}",
        proxy.log()
    );
    // ... and the others are still served.
    let r = round_trip(
        &proxy,
        "secured",
        &[
            "--protocol",
            "SASL_SSL",
            "--ca",
            &ca_file,
            "--mechanism",
            "SCRAM-SHA-512",
            "--user",
            "alice",
            "--password",
            PASSWORD,
            "--count",
            "1",
        ],
    );
    assert_eq!(r["produced"], 1, "{r}");
}

#[test]
fn mutual_tls_names_the_client_by_its_certificate() {
    let dir = ca();
    cert(&dir, "server", "kafkatwin-test");
    cert(&dir, "alice", "alice");
    let broker = Broker::start("a");
    create_topic(&broker.addr(), "mtls", 1);
    let proxy = Proxy::start_with(
        &[&broker],
        ProxyOptions {
            server_yaml: format!(
                "  tls: {{ cert_file: \"{}\", key_file: \"{}\", client_ca_file: \"{}\" }}\n",
                path(&dir, "server.pem"),
                path(&dir, "server-key.pem"),
                path(&dir, "ca.pem")
            ),
            ..Default::default()
        },
    );
    let ca_file = path(&dir, "ca.pem");
    let r = round_trip(
        &proxy,
        "mtls",
        &[
            "--protocol",
            "SSL",
            "--ca",
            &ca_file,
            "--cert",
            &path(&dir, "alice.pem"),
            "--key",
            &path(&dir, "alice-key.pem"),
            "--count",
            "5",
        ],
    );
    assert_eq!(r["produced"], 5, "{r}\n{}", proxy.log());
    assert_eq!(r["consumed"], 5, "{r}");
    assert!(
        proxy
            .log()
            .contains("client authenticated by its certificate as User:CN=alice"),
        "{}",
        proxy.log()
    );
    // Without a certificate: no session.
    let r = round_trip(
        &proxy,
        "mtls",
        &[
            "--protocol",
            "SSL",
            "--ca",
            &ca_file,
            "--count",
            "1",
            "--timeout",
            "8",
        ],
    );
    assert_eq!(r["produced"], 0, "{r}");
}

#[test]
fn a_rotated_certificate_reaches_new_connections_and_open_ones_keep_theirs() {
    let dir = ca();
    cert(&dir, "server", "first-cert");
    let broker = Broker::start("a");
    let proxy = Proxy::start_with(
        &[&broker],
        ProxyOptions {
            server_yaml: tls_yaml(&dir),
            ..Default::default()
        },
    );
    let mut child = python_script("tls_rotation.py")
        .args(["--addr", &proxy.bootstrap(), "--ca", &path(&dir, "ca.pem")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("rotation client");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let open = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(open, "OPEN first-cert", "{}", proxy.log());
    // Rotate: a new key and certificate written in place (as cert-manager does).
    let next = dir.join("next");
    std::fs::create_dir_all(&next).expect("dir");
    for f in ["ca.pem", "ca-key.pem"] {
        std::fs::copy(dir.join(f), next.join(f)).expect("copy");
    }
    cert(&next, "server", "second-cert");
    for f in ["server.pem", "server-key.pem"] {
        std::fs::copy(next.join(f), dir.join(f)).expect("rotate");
    }
    let reloaded = kafkatwin_tests::eventually(Duration::from_secs(15), || {
        proxy.log().contains("certificate reloaded")
    });
    assert!(reloaded, "{}", proxy.log());
    writeln!(child.stdin.as_mut().expect("stdin")).expect("go on");
    let report: Value = lines
        .map_while(Result::ok)
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(&l).ok())
        .unwrap_or(Value::Null);
    let _ = child.wait();
    assert_eq!(report["old_cn"], "first-cert", "{report}");
    assert_eq!(report["old_still_answers"], true, "{report}");
    assert_eq!(report["new_cn"], "second-cert", "{report}");
    assert_eq!(report["new_answers"], true, "{report}");
}

/// A proxy in front of a broker with a TLS listener and SCRAM users: a cluster that can only
/// be reached over SASL_SSL.
fn secured_cluster(dir: &Path, broker: &Broker) -> Proxy {
    Proxy::start_with(
        &[broker],
        ProxyOptions {
            server_yaml: tls_yaml(dir),
            extra_yaml: "auth:\n  users:\n    - { username: kafkatwin, password: \"${env:SVC_PASSWORD}\" }\n"
                .into(),
            env: vec![("SVC_PASSWORD".into(), PASSWORD.into())],
            ..Default::default()
        },
    )
}

#[test]
fn a_cluster_reached_only_over_tls_and_scram() {
    let dir = ca();
    cert(&dir, "server", "secure-cluster");
    let broker = Broker::start("a");
    create_topic(&broker.addr(), "through", 1);
    let front = secured_cluster(&dir, &broker);
    let behind = Broker::external("secure", front.port);
    let cluster_yaml = |password_var: &str| {
        format!(
            "    tls: {{ ca_file: \"{}\" }}\n    sasl: {{ mechanism: SCRAM-SHA-512, username: kafkatwin, password: \"${{env:{password_var}}}\" }}\n",
            path(&dir, "ca.pem")
        )
    };
    let proxy = Proxy::start_with(
        &[&behind],
        ProxyOptions {
            cluster_yaml: cluster_yaml("BACKEND_PASSWORD"),
            env: vec![("BACKEND_PASSWORD".into(), PASSWORD.into())],
            ..Default::default()
        },
    );
    let r = round_trip(
        &proxy,
        "through",
        &["--protocol", "PLAINTEXT", "--count", "15"],
    );
    assert_eq!(r["produced"], 15, "{r}\n{}\n{}", proxy.log(), front.log());
    assert_eq!(r["consumed"], 15, "{r}");
    let stored = kafkatwin_tests::stored_values(&broker, "through");
    assert_eq!(
        stored.len(),
        15,
        "the broker behind holds the records: {stored:?}"
    );

    // A wrong password: the cluster is down with the login's reason, and nothing hangs.
    let refused = Proxy::start_with(
        &[&behind],
        ProxyOptions {
            cluster_yaml: cluster_yaml("BACKEND_PASSWORD"),
            env: vec![("BACKEND_PASSWORD".into(), "not it".into())],
            ..Default::default()
        },
    );
    let mut last = String::new();
    let reported = kafkatwin_tests::eventually(Duration::from_secs(20), || {
        last = kafkatwin_tests::http::get(refused.admin_port, "/api/v1/clusters/secure/health")
            .map(|(_, b)| b)
            .unwrap_or_default();
        last.contains("SASL login as kafkatwin refused")
    });
    assert!(reported, "{last}\n{}", refused.log());
    let r = round_trip(
        &refused,
        "through",
        &["--protocol", "PLAINTEXT", "--count", "1", "--timeout", "8"],
    );
    assert_eq!(r["produced"], 0, "{r}");
}

#[test]
fn acls_deny_one_topic_while_another_works() {
    let broker = Broker::start("a");
    for t in ["orders", "payroll"] {
        create_topic(&broker.addr(), t, 1);
    }
    // Bob is configured with salted credentials made by `kafkatwin scram-credential`, not
    // with his password.
    let mut salt = Command::new(kafkatwin_tests::kafkatwin_bin())
        .arg("scram-credential")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("scram-credential");
    writeln!(salt.stdin.take().expect("stdin"), "bob-pw").expect("password");
    let out = salt.wait_with_output().expect("credentials");
    let salted: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| format!("      {l}\n"))
        .collect();
    assert!(salted.contains("scram_sha_512"), "{salted}");
    let proxy = Proxy::start_with(
        &[&broker],
        ProxyOptions {
            extra_yaml: "auth:\n  users:\n    - { username: alice, password: alice-pw }\n    \
                         - username: bob\n"
                .to_owned()
                + &salted
                + "  acls:\n    \
                         - { principal: \"User:alice\", resource: topic, name: orders, pattern: literal, operations: [read, write, describe] }\n    \
                         - { principal: \"User:bob\", resource: topic, name: pay, pattern: prefixed, operations: [all] }\n",
            ..Default::default()
        },
    );
    let as_user = |user: &str, password: &str, topic: &str| {
        round_trip(
            &proxy,
            topic,
            &[
                "--protocol",
                "SASL_PLAINTEXT",
                "--mechanism",
                "SCRAM-SHA-256",
                "--user",
                user,
                "--password",
                password,
                "--count",
                "3",
                "--timeout",
                "10",
            ],
        )
    };
    let r = as_user("alice", "alice-pw", "orders");
    assert_eq!(r["produced"], 3, "{r}\n{}", proxy.log());
    assert_eq!(r["consumed"], 3, "{r}");
    assert_eq!(
        r["topics"],
        serde_json::json!(["orders"]),
        "alice sees only what she may describe: {r}"
    );
    let r = as_user("alice", "alice-pw", "payroll");
    assert_eq!(r["produced"], 0, "{r}");
    // librdkafka reports it on delivery, or at once when the topic's metadata (which
    // carries the refusal) came first.
    let refused = |field: &str| r[field].to_string().contains("TOPIC_AUTHORIZATION_FAILED");
    assert!(refused("delivery_errors") || refused("errors"), "{r}");
    let r = as_user("bob", "bob-pw", "payroll");
    assert_eq!(r["produced"], 3, "a prefixed entry allows bob: {r}");
    assert_eq!(r["consumed"], 3, "{r}");
    assert_eq!(r["topics"], serde_json::json!(["payroll"]), "{r}");
    assert_eq!(
        kafkatwin_tests::stored_values(&broker, "payroll").len(),
        3,
        "only bob's records reached payroll"
    );
}

#[test]
fn users_and_acls_set_through_the_admin_api_reach_every_instance() {
    let broker = Broker::start("a");
    create_topic(&broker.addr(), "orders", 1);
    let opts = || {
        ProxyOptions {
        extra_yaml: "auth:\n  users:\n    - { username: ops, password: ops-pw }\n  acls:\n    \
                     - { principal: \"User:ops\", resource: topic, name: \"*\", operations: [all] }\n"
            .into(),
        ..Default::default()
    }
    };
    let first = Proxy::start_with(&[&broker], opts());
    let second = Proxy::start_with(&[&broker], opts());
    let scram = |proxy: &Proxy, password: &str| {
        round_trip(
            proxy,
            "orders",
            &[
                "--protocol",
                "SASL_PLAINTEXT",
                "--mechanism",
                "SCRAM-SHA-512",
                "--user",
                "carol",
                "--password",
                password,
                "--count",
                "2",
                "--timeout",
                "10",
            ],
        )
    };
    // Unknown yet.
    assert_eq!(scram(&first, "carol-pw")["produced"], 0);
    let (status, body) = kafkatwin_tests::http::send(
        first.admin_port,
        "PUT",
        "/api/v1/users/carol",
        r#"{"password": "carol-pw"}"#,
    )
    .expect("answered");
    assert_eq!(status, 201, "{body}");
    let (_, users) =
        kafkatwin_tests::http::get(second.admin_port, "/api/v1/users").expect("answered");
    assert!(
        !users.contains("carol-pw"),
        "a password is never shown: {users}"
    );
    // Carol logs in on the other instance too, but the ACLs do not let her write yet.
    let logged = kafkatwin_tests::eventually(Duration::from_secs(15), || {
        let r = scram(&second, "carol-pw");
        r["delivery_errors"]
            .to_string()
            .contains("TOPIC_AUTHORIZATION_FAILED")
    });
    assert!(
        logged,
        "carol could not log in on the second instance:\n{}",
        second.log()
    );
    let (status, body) = kafkatwin_tests::http::send(
        second.admin_port,
        "POST",
        "/api/v1/acls",
        r#"{"principal": "User:carol", "resource": "topic", "name": "orders", "operations": ["write", "read"]}"#,
    )
    .expect("answered");
    assert_eq!(status, 201, "{body}");
    let allowed = kafkatwin_tests::eventually(Duration::from_secs(15), || {
        scram(&first, "carol-pw")["produced"] == 2
    });
    assert!(
        allowed,
        "the ACL entry did not reach the first instance:\n{}",
        first.log()
    );
    // A wrong password, then the user removed: refused.
    assert_eq!(scram(&first, "not-hers")["produced"], 0);
    let (status, _) =
        kafkatwin_tests::http::send(first.admin_port, "DELETE", "/api/v1/users/carol", "")
            .expect("answered");
    assert_eq!(status, 204);
    let refused = kafkatwin_tests::eventually(Duration::from_secs(15), || {
        scram(&second, "carol-pw")["produced"] == 0
    });
    assert!(refused, "a removed user still logs in");
}

#[test]
fn an_encrypted_key_opens_with_its_password_and_sighup_reloads() {
    let dir = ca();
    cert(&dir, "server", "kafkatwin-test");
    openssl(
        &dir,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "server-key.pem",
            "-out",
            "server-key-enc.pem",
            "-passout",
            "pass:key secret",
        ],
    );
    let broker = Broker::start("a");
    create_topic(&broker.addr(), "enc", 1);
    let proxy = Proxy::start_with(
        &[&broker],
        ProxyOptions {
            server_yaml: format!(
                "  tls: {{ cert_file: \"{}\", key_file: \"{}\", key_password: \"${{env:KEY_PASSWORD}}\" }}\n",
                path(&dir, "server.pem"),
                path(&dir, "server-key-enc.pem")
            ),
            env: vec![("KEY_PASSWORD".into(), "key secret".into())],
            ..Default::default()
        },
    );
    let r = round_trip(
        &proxy,
        "enc",
        &[
            "--protocol",
            "SSL",
            "--ca",
            &path(&dir, "ca.pem"),
            "--count",
            "3",
        ],
    );
    assert_eq!(r["produced"], 3, "{r}\n{}", proxy.log());
    assert_eq!(r["consumed"], 3, "{r}");
    let _ = Command::new("kill")
        .args(["-HUP", &proxy.pid().to_string()])
        .status();
    let reloaded = kafkatwin_tests::eventually(Duration::from_secs(10), || {
        let log = proxy.log();
        log.contains("SIGHUP received: reloading server.tls")
            && log.contains("certificate reloaded")
    });
    assert!(reloaded, "{}", proxy.log());
    // A wrong key password: check-config says which setting, and shows no secret.
    let out = Command::new(kafkatwin_tests::kafkatwin_bin())
        .arg("check-config")
        .arg(proxy_config_with_wrong_password(&dir))
        .output()
        .expect("check-config ran");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("server.tls.key_file") && text.contains("key_password"),
        "{text}"
    );
    assert!(!text.contains("not it"), "a secret was printed: {text}");
}

/// A config whose listener key cannot be opened (its password is wrong).
fn proxy_config_with_wrong_password(dir: &Path) -> PathBuf {
    let file = dir.join("wrong.yaml");
    std::fs::write(
        &file,
        format!(
            "server:\n  tls: {{ cert_file: \"{}\", key_file: \"{}\", key_password: \"not it\" }}\nclusters:\n  - {{ id: a, bootstrap_servers: [\"127.0.0.1:1\"] }}\n",
            path(dir, "server.pem"),
            path(dir, "server-key-enc.pem")
        ),
    )
    .expect("config");
    file
}

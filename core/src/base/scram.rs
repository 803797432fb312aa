//! SCRAM (RFC 5802, with SHA-256 and SHA-512 as RFC 7677 and Kafka use them): the server side
//! for clients logging in to the proxy, the client side for the proxy logging in to a
//! cluster. Only what Kafka sends is accepted: no channel binding (`n,,`), extensions ignored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use kafkatwin_config::ScramCredential;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Iterations for credentials the proxy derives itself (Kafka's minimum and default).
const ITERATIONS: u32 = 4096;
/// The most iterations accepted from a broker or the config (Kafka's maximum): PBKDF2 is CPU
/// work no timeout interrupts.
pub const MAX_ITERATIONS: u32 = 16384;

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramHash {
    /// The mechanism for a SASL name.
    pub fn from_mechanism(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(Self::Sha256),
            "SCRAM-SHA-512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The SASL name.
    pub fn mechanism(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac(self, key: &[u8], msg: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length: `new_from_slice` cannot fail.
        match self {
            Self::Sha256 => Hmac::<Sha256>::new_from_slice(key)
                .map(|mut m| {
                    m.update(msg);
                    m.finalize().into_bytes().to_vec()
                })
                .unwrap_or_default(),
            Self::Sha512 => Hmac::<Sha512>::new_from_slice(key)
                .map(|mut m| {
                    m.update(msg);
                    m.finalize().into_bytes().to_vec()
                })
                .unwrap_or_default(),
        }
    }

    fn hash(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(msg).to_vec(),
            Self::Sha512 => Sha512::digest(msg).to_vec(),
        }
    }

    fn salted(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Self::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// What the server keeps of a password: never the password itself.
#[derive(Clone)]
pub struct Credential {
    /// The hash.
    pub hash: ScramHash,
    /// Salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl Credential {
    /// Derives a credential from a password with a fresh random salt.
    pub fn derive(hash: ScramHash, password: &str) -> Result<Self, ScramError> {
        let salt = random(24)?;
        Ok(Self::with_salt(hash, password, salt, ITERATIONS))
    }

    fn with_salt(hash: ScramHash, password: &str, salt: Vec<u8>, iterations: u32) -> Self {
        let salted = hash.salted(password.as_bytes(), &salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        Self {
            hash,
            stored_key: hash.hash(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
            salt,
            iterations,
        }
    }
}

impl Credential {
    /// Its stored form (what the control log and `auth.users` keep).
    pub fn to_stored(&self) -> ScramCredential {
        ScramCredential {
            salt: STANDARD.encode(&self.salt),
            iterations: self.iterations,
            stored_key: STANDARD.encode(&self.stored_key),
            server_key: STANDARD.encode(&self.server_key),
        }
    }

    /// From its stored form.
    pub fn from_stored(hash: ScramHash, s: &ScramCredential) -> Result<Self, ScramError> {
        let decode = |v: &str, what: &'static str| {
            STANDARD.decode(v).map_err(|_| ScramError::Malformed(what))
        };
        Ok(Self {
            hash,
            salt: decode(&s.salt, "the credential's salt is not base64")?,
            iterations: s.iterations,
            stored_key: decode(&s.stored_key, "the credential's stored_key is not base64")?,
            server_key: decode(&s.server_key, "the credential's server_key is not base64")?,
        })
    }

    /// Whether `password` is the one this credential was derived from (a PLAIN login).
    pub fn check_password(&self, password: &[u8]) -> bool {
        let salted = self.hash.salted(password, &self.salt, self.iterations);
        let client_key = self.hash.hmac(&salted, b"Client Key");
        bool::from(self.hash.hash(&client_key).ct_eq(&self.stored_key))
    }
}

/// Why a SCRAM exchange failed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScramError {
    /// A message not in SCRAM's shape; says which part.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The proof does not match the user's password.
    #[error("invalid credentials")]
    InvalidProof,
    /// The server's signature does not match (the server does not know the password).
    #[error("the server's SCRAM signature does not match: it does not hold this password")]
    BadServerSignature,
    /// The server answered with an error.
    #[error("the server refused the login: {0}")]
    Refused(String),
    /// No randomness for a nonce or salt.
    #[error("no random bytes available: {0}")]
    Random(String),
}

fn random(n: usize) -> Result<Vec<u8>, ScramError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| ScramError::Random(e.to_string()))?;
    Ok(buf)
}

fn nonce() -> Result<String, ScramError> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random(18)?))
}

/// `attr=value` fields of a SCRAM message.
fn field(msg: &str, attr: char) -> Option<&str> {
    msg.split(',').find_map(|f| {
        let mut c = f.chars();
        (c.next() == Some(attr) && c.next() == Some('=')).then(|| &f[2..])
    })
}

/// A SCRAM user name as sent (`=2C` for `,`, `=3D` for `=`).
fn decode_name(s: &str) -> String {
    s.replace("=2C", ",").replace("=3D", "=")
}

fn encode_name(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// The server's side of one exchange, after the client's first message.
pub struct ServerFirst {
    /// The user the client named.
    pub user: String,
    client_first_bare: String,
    nonce: String,
}

impl ServerFirst {
    /// Reads the client's first message (`n,,n=user,r=nonce`).
    pub fn read(client_first: &[u8]) -> Result<Self, ScramError> {
        let text =
            std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        // gs2 header: "n" (no channel binding) or "y", an optional authzid, then the bare part.
        let mut parts = text.splitn(3, ',');
        let cb = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        if cb != "n" && cb != "y" {
            return Err(ScramError::Malformed("channel binding is not supported"));
        }
        let _authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        let bare = parts
            .next()
            .ok_or(ScramError::Malformed("no client-first-message-bare"))?;
        let user = field(bare, 'n').ok_or(ScramError::Malformed("no user name (n=)"))?;
        let client_nonce = field(bare, 'r').ok_or(ScramError::Malformed("no nonce (r=)"))?;
        Ok(Self {
            user: decode_name(user),
            client_first_bare: bare.to_owned(),
            nonce: format!("{client_nonce}{}", nonce()?),
        })
    }

    /// The server's first message for `cred` (`r=nonce,s=salt,i=iterations`), and the state
    /// to check the client's proof with.
    pub fn answer(self, cred: &Credential) -> (Vec<u8>, ServerFinal) {
        let server_first = format!(
            "r={},s={},i={}",
            self.nonce,
            STANDARD.encode(&cred.salt),
            cred.iterations
        );
        let state = ServerFinal {
            auth_prefix: format!("{},{server_first}", self.client_first_bare),
            nonce: self.nonce,
            cred: cred.clone(),
        };
        (server_first.into_bytes(), state)
    }
}

/// The server's state between its first message and the client's proof.
pub struct ServerFinal {
    auth_prefix: String,
    nonce: String,
    cred: Credential,
}

impl ServerFinal {
    /// Checks the client's final message (`c=biws,r=nonce,p=proof`); the server's final
    /// message (`v=signature`) when the proof holds.
    pub fn verify(self, client_final: &[u8]) -> Result<Vec<u8>, ScramError> {
        let text =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof (p=)"))?;
        if field(without_proof, 'r') != Some(self.nonce.as_str()) {
            return Err(ScramError::Malformed("the nonce is not the one agreed"));
        }
        let proof = STANDARD
            .decode(proof)
            .map_err(|_| ScramError::Malformed("the proof is not base64"))?;
        let hash = self.cred.hash;
        let auth = format!("{},{without_proof}", self.auth_prefix);
        let signature = hash.hmac(&self.cred.stored_key, auth.as_bytes());
        if proof.len() != signature.len() {
            return Err(ScramError::InvalidProof);
        }
        let client_key = xor(&proof, &signature);
        if !bool::from(hash.hash(&client_key).ct_eq(&self.cred.stored_key)) {
            return Err(ScramError::InvalidProof);
        }
        let server_signature = hash.hmac(&self.cred.server_key, auth.as_bytes());
        Ok(format!("v={}", STANDARD.encode(server_signature)).into_bytes())
    }
}

/// The client's side of one exchange.
pub struct Client {
    hash: ScramHash,
    password: String,
    client_first_bare: String,
    nonce: String,
}

impl Client {
    /// Starts a login as `user`; the client's first message.
    pub fn start(
        hash: ScramHash,
        user: &str,
        password: &str,
    ) -> Result<(Self, Vec<u8>), ScramError> {
        let nonce = nonce()?;
        let bare = format!("n={},r={nonce}", encode_name(user));
        let first = format!("n,,{bare}").into_bytes();
        Ok((
            Self {
                hash,
                password: password.to_owned(),
                client_first_bare: bare,
                nonce,
            },
            first,
        ))
    }

    /// The client's final message for the server's first, and what the server must sign.
    pub fn prove(self, server_first: &[u8]) -> Result<(Vec<u8>, Vec<u8>), ScramError> {
        let text =
            std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        if let Some(e) = field(text, 'e') {
            return Err(ScramError::Refused(e.to_owned()));
        }
        let nonce = field(text, 'r').ok_or(ScramError::Malformed("no nonce (r=)"))?;
        if !nonce.starts_with(&self.nonce) {
            return Err(ScramError::Malformed(
                "the server's nonce does not extend ours",
            ));
        }
        let salt = field(text, 's')
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or(ScramError::Malformed("no salt (s=)"))?;
        let iterations: u32 = field(text, 'i')
            .and_then(|i| i.parse().ok())
            .filter(|i| (1..=MAX_ITERATIONS).contains(i))
            .ok_or(ScramError::Malformed(
                "no iteration count (i=) between 1 and 16384",
            ))?;
        let salted = self
            .hash
            .salted(self.password.as_bytes(), &salt, iterations);
        let client_key = self.hash.hmac(&salted, b"Client Key");
        let stored_key = self.hash.hash(&client_key);
        let server_key = self.hash.hmac(&salted, b"Server Key");
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{},{text},{without_proof}", self.client_first_bare);
        let signature = self.hash.hmac(&stored_key, auth.as_bytes());
        let proof = xor(&client_key, &signature);
        let expected = self.hash.hmac(&server_key, auth.as_bytes());
        Ok((
            format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes(),
            expected,
        ))
    }
}

/// Checks the server's final message against the signature [`Client::prove`] expected.
pub fn check_server_final(server_final: &[u8], expected: &[u8]) -> Result<(), ScramError> {
    let text = std::str::from_utf8(server_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    if let Some(e) = field(text, 'e') {
        return Err(ScramError::Refused(e.to_owned()));
    }
    let v = field(text, 'v')
        .and_then(|v| STANDARD.decode(v).ok())
        .ok_or(ScramError::Malformed("no server signature (v=)"))?;
    if bool::from(v.ct_eq(expected)) {
        Ok(())
    } else {
        Err(ScramError::BadServerSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_and_the_server_agree_and_a_wrong_password_is_refused() {
        for hash in [ScramHash::Sha256, ScramHash::Sha512] {
            let cred = Credential::derive(hash, "pa,ss=word").expect("credential");
            for (password, ok) in [("pa,ss=word", true), ("wrong", false)] {
                let (client, first) = Client::start(hash, "al=ice,x", password).expect("start");
                let server = ServerFirst::read(&first).expect("client first");
                assert_eq!(server.user, "al=ice,x");
                let (server_first, state) = server.answer(&cred);
                let (client_final, expected) = client.prove(&server_first).expect("prove");
                match state.verify(&client_final) {
                    Ok(server_final) => {
                        assert!(ok, "{hash:?}: a wrong password was accepted");
                        check_server_final(&server_final, &expected).expect("server signature");
                    }
                    Err(e) => {
                        assert!(!ok, "{hash:?}: the right password was refused: {e}");
                        assert_eq!(e, ScramError::InvalidProof);
                    }
                }
            }
        }
    }

    /// RFC 7677's SCRAM-SHA-256 example, checked from the client side with its fixed nonce
    /// and salt.
    #[test]
    fn the_rfc_7677_example_gives_its_proof() {
        let client = Client {
            hash: ScramHash::Sha256,
            password: "pencil".into(),
            client_first_bare: "n=user,r=rOprNGfwEbeRWgbNEkqO".into(),
            nonce: "rOprNGfwEbeRWgbNEkqO".into(),
        };
        let server_first =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let (fin, expected) = client.prove(server_first).expect("prove");
        assert_eq!(
            String::from_utf8(fin).expect("utf8"),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        check_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &expected)
            .expect("the RFC's server signature");
    }

    #[test]
    fn a_stored_credential_checks_the_password_it_came_from() {
        let cred = Credential::derive(ScramHash::Sha512, "pw").expect("credential");
        let back = Credential::from_stored(ScramHash::Sha512, &cred.to_stored()).expect("stored");
        assert!(back.check_password(b"pw"));
        assert!(!back.check_password(b"pw2"));
    }

    #[test]
    fn malformed_messages_say_what_is_missing() {
        assert_eq!(
            ServerFirst::read(b"n,,r=abc").err(),
            Some(ScramError::Malformed("no user name (n=)"))
        );
        assert!(ServerFirst::read(b"p=tls-unique,,n=a,r=b").is_err());
        assert!(ServerFirst::read(&[0xff, 0xfe]).is_err());
    }
}

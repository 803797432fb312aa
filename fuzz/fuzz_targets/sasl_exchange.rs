//! Any bytes a client can send in its SCRAM messages (split at the first 0xFF into the
//! client-first and client-final messages), and any server-first message a broker can send
//! the proxy's own login: each step must return its answer or an error, never panic.
#![no_main]

use kafkatwin_core::base::scram::{Client, Credential, ScramHash, ServerFirst, check_server_final};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn credential() -> &'static Credential {
    static C: OnceLock<Credential> = OnceLock::new();
    C.get_or_init(|| Credential::derive(ScramHash::Sha256, "pencil").expect("random bytes"))
}

fuzz_target!(|data: &[u8]| {
    let (first, last) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    // The proxy as a server.
    if let Ok(server) = ServerFirst::read(first) {
        let (_, state) = server.answer(credential());
        let _ = state.verify(last);
    }
    // The proxy as a client of a broker that answers `first`, then `last`.
    if let Ok((client, _)) = Client::start(ScramHash::Sha512, "user", "pencil")
        && let Ok((_, expected)) = client.prove(first)
    {
        let _ = check_server_final(last, &expected);
    }
});

use super::*;

fn spec(name: &str, role: Role, secret: &str) -> TokenSpec {
    TokenSpec { name: name.into(), role, sha256: digest_hex(secret) }
}

#[test]
fn each_role_includes_the_one_before_and_worker_stands_apart() {
    use Role::*;
    let allowed = |r: Role| Role::ALL.into_iter().filter(|n| r.allows(*n)).collect::<Vec<_>>();
    assert_eq!(allowed(Viewer), [Viewer]);
    assert_eq!(allowed(Operator), [Viewer, Operator]);
    assert_eq!(allowed(Admin), [Viewer, Operator, Admin, Worker]);
    assert_eq!(allowed(Worker), [Worker]);
}

#[test]
fn a_secret_is_found_by_its_digest_and_nothing_else_is() {
    let t =
        TokenTable::new(&[spec("ci", Role::Operator, "s1"), spec("dash", Role::Viewer, "s2")], Some("root")).unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t.lookup("s1"), Some(Principal { name: "ci".into(), role: Role::Operator }));
    assert_eq!(t.lookup("s2").unwrap().role, Role::Viewer);
    assert_eq!(t.lookup("root"), Some(Principal { name: Principal::SERVER_TOKEN.into(), role: Role::Admin }));
    for wrong in ["", "s", "s12", "S1", &digest_hex("s1")] {
        assert_eq!(t.lookup(wrong), None, "{wrong:?}");
    }
    assert!(t.has_role(Role::Viewer) && !t.has_role(Role::Worker));
}

#[test]
fn the_sha256_is_the_standard_one() {
    // FIPS 180-4's "abc" example.
    assert_eq!(digest_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

#[test]
fn bad_token_lists_are_refused_with_the_name() {
    let bad = TokenSpec { name: "x".into(), role: Role::Viewer, sha256: "abc".into() };
    assert_eq!(TokenTable::new(&[bad], None).unwrap_err(), TokenError::BadDigest { name: "x".into() });
    let not_hex = TokenSpec { sha256: "zz".repeat(32), ..spec("x", Role::Viewer, "") };
    assert!(matches!(TokenTable::new(&[not_hex], None), Err(TokenError::BadDigest { .. })));
    let twice = [spec("a", Role::Viewer, "1"), spec("a", Role::Admin, "2")];
    assert_eq!(TokenTable::new(&twice, None).unwrap_err(), TokenError::DuplicateName { name: "a".into() });
    let server = [spec(Principal::SERVER_TOKEN, Role::Viewer, "1")];
    assert!(matches!(TokenTable::new(&server, Some("t")), Err(TokenError::DuplicateName { .. })));
    assert!(matches!(TokenTable::new(&[spec("a b", Role::Viewer, "1")], None), Err(TokenError::BadName { .. })));
    assert!(TokenTable::new(&[], Some("")).unwrap().is_empty(), "an empty server token is no token");
}

#[test]
fn fresh_secrets_differ_and_a_reload_replaces_the_table_whole() {
    let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
    assert_ne!(a, b);
    assert_eq!(a.len(), 5 + 64);
    let tokens = Tokens::new(TokenTable::new(&[spec("old", Role::Viewer, &a)], None).unwrap());
    let before = tokens.current();
    tokens.replace(TokenTable::new(&[spec("new", Role::Admin, &b)], None).unwrap());
    assert_eq!(tokens.current().lookup(&a), None);
    assert_eq!(tokens.current().lookup(&b).unwrap().name.as_ref(), "new");
    assert!(before.lookup(&a).is_some(), "a caller in flight keeps the table it took");
}

#[test]
fn a_worker_is_admitted_by_a_worker_or_admin_token_or_the_shared_one() {
    let t = TokenTable::new(
        &[spec("w", Role::Worker, "ws"), spec("a", Role::Admin, "as"), spec("v", Role::Viewer, "vs")],
        None,
    )
    .unwrap();
    assert_eq!(t.worker("ws", None).unwrap().name.as_ref(), "w");
    assert_eq!(t.worker("as", None).unwrap().name.as_ref(), "a");
    assert_eq!(t.worker("vs", Some("shared")), None, "a viewer is no worker");
    let g = t.worker("shared", Some("shared")).unwrap();
    assert_eq!((g.name.as_ref(), g.role), (Principal::GATEWAY_TOKEN, Role::Worker));
    assert_eq!(t.worker("shared", None), None);
}

//! The auth store suite (users, namespaces, members, tokens, signing keys, audit log,
//! settings): every test runs on `SQLite` and on Postgres, each in a fresh database.

mod common;

use std::sync::Arc;

use registry_core::auth::{
    Action, Actions, ApiToken, AuditQuery, Member, Namespace, NewAuditEntry, Outcome, Role, SigningKey, User, Visibility,
};
use registry_core::store::RegistryStore;

fn user(name: &str, admin: bool) -> User {
    User { name: name.into(), password_hash: format!("$argon2id$fake${name}"), is_admin: admin, created_at: 1 }
}

fn namespace(name: &str, visibility: Visibility) -> Namespace {
    Namespace { name: name.into(), visibility, policy: "{}".into(), created_at: 2 }
}

fn token(id: &str, owner: &str, namespace: Option<&str>) -> ApiToken {
    ApiToken {
        id: id.into(),
        secret_hash: format!("hash-{id}"),
        name: format!("token {id}"),
        owner: owner.into(),
        namespace: namespace.map(Into::into),
        scopes: Actions::of(&[Action::Pull, Action::Push]),
        expires_at: Some(10_000),
        created_at: 3,
        last_used_at: None,
        revoked_at: None,
    }
}

async fn users_are_unique_and_updatable(store: Arc<dyn RegistryStore>) {
    assert_eq!(store.user_count().await.unwrap(), 0);
    assert!(store.create_user(&user("alice", false)).await.unwrap());
    assert!(!store.create_user(&user("alice", true)).await.unwrap(), "a taken name is refused");
    assert!(store.create_user(&user("root", true)).await.unwrap());
    assert_eq!(store.user_count().await.unwrap(), 2);
    assert!(!store.user("alice").await.unwrap().unwrap().is_admin, "the first record stays");
    assert!(store.update_user("alice", Some("$new"), None).await.unwrap());
    let alice = store.user("alice").await.unwrap().unwrap();
    assert_eq!((alice.password_hash.as_str(), alice.is_admin), ("$new", false));
    assert!(store.update_user("alice", None, Some(true)).await.unwrap());
    assert!(store.user("alice").await.unwrap().unwrap().is_admin);
    assert!(!store.update_user("nobody", Some("x"), None).await.unwrap());
    let names: Vec<String> = store.list_users().await.unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["alice", "root"]);
    assert!(store.delete_user("alice").await.unwrap());
    assert!(!store.delete_user("alice").await.unwrap());
    assert!(store.user("alice").await.unwrap().is_none());
}

async fn namespace_access_reads_record_and_role_together(store: Arc<dyn RegistryStore>) {
    store.create_user(&user("alice", false)).await.unwrap();
    store.create_user(&user("bob", false)).await.unwrap();
    assert!(store.create_namespace(&namespace("team", Visibility::Private)).await.unwrap());
    assert!(!store.create_namespace(&namespace("team", Visibility::Public)).await.unwrap());
    store.set_member(&Member { namespace: "team".into(), username: "alice".into(), role: Role::Writer }).await.unwrap();
    let (ns, role) = store.namespace_access("team", Some("alice")).await.unwrap();
    assert_eq!((ns.unwrap().visibility, role), (Visibility::Private, Some(Role::Writer)));
    assert_eq!(store.namespace_access("team", Some("bob")).await.unwrap().1, None);
    assert_eq!(store.namespace_access("team", None).await.unwrap().1, None);
    assert_eq!(store.namespace_access("ghost", Some("alice")).await.unwrap(), (None, None));
    // A role change replaces the old one.
    store.set_member(&Member { namespace: "team".into(), username: "alice".into(), role: Role::Admin }).await.unwrap();
    assert_eq!(store.members("team").await.unwrap().len(), 1);
    assert_eq!(store.memberships("alice").await.unwrap()[0].role, Role::Admin);
    assert!(store.update_namespace("team", Some(Visibility::Public), Some(r#"{"allow_overwrite":true}"#)).await.unwrap());
    let team = store.namespace("team").await.unwrap().unwrap();
    assert_eq!((team.visibility, team.policy.as_str()), (Visibility::Public, r#"{"allow_overwrite":true}"#));
    // Deleting a user or a namespace removes the memberships with it.
    store.delete_user("alice").await.unwrap();
    assert!(store.members("team").await.unwrap().is_empty());
    store.set_member(&Member { namespace: "team".into(), username: "bob".into(), role: Role::Reader }).await.unwrap();
    assert!(store.delete_namespace("team").await.unwrap());
    assert!(store.memberships("bob").await.unwrap().is_empty());
    assert!(store.list_namespaces().await.unwrap().is_empty());
}

async fn tokens_are_found_by_hash_and_revoked_once(store: Arc<dyn RegistryStore>) {
    store.create_user(&user("alice", false)).await.unwrap();
    store.create_user(&user("bob", false)).await.unwrap();
    store.create_namespace(&namespace("team", Visibility::Private)).await.unwrap();
    store.create_token(&token("t1", "alice", None)).await.unwrap();
    store.create_token(&token("t2", "alice", Some("team"))).await.unwrap();
    store.create_token(&token("t3", "bob", None)).await.unwrap();
    let found = store.token_by_hash("hash-t2").await.unwrap().unwrap();
    assert_eq!(found, token("t2", "alice", Some("team")));
    assert!(store.token_by_hash("hash-nope").await.unwrap().is_none());
    assert_eq!(store.list_tokens(Some("alice")).await.unwrap().len(), 2);
    assert_eq!(store.list_tokens(None).await.unwrap().len(), 3);
    store.touch_token("t1", 500).await.unwrap();
    assert_eq!(store.token("t1").await.unwrap().unwrap().last_used_at, Some(500));
    assert!(store.revoke_token("t1", 600).await.unwrap());
    assert!(!store.revoke_token("t1", 700).await.unwrap(), "revoked once");
    let revoked = store.token("t1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(600));
    assert!(!revoked.is_live(0));
    assert!(found.is_live(9_999) && !found.is_live(10_000), "expiry is exclusive");
    // A robot token goes with its namespace, a personal one with its owner.
    store.delete_namespace("team").await.unwrap();
    assert!(store.token("t2").await.unwrap().is_none());
    store.delete_user("bob").await.unwrap();
    assert!(store.token("t3").await.unwrap().is_none());
}

async fn signing_keys_are_per_namespace(store: Arc<dyn RegistryStore>) {
    store.create_namespace(&namespace("a", Visibility::Public)).await.unwrap();
    store.create_namespace(&namespace("b", Visibility::Public)).await.unwrap();
    let key = |ns: &str, id: &str, name: &str| SigningKey {
        id: id.into(),
        namespace: ns.into(),
        name: name.into(),
        public_key: "RWQ...".into(),
        created_at: 4,
    };
    assert!(store.add_signing_key(&key("a", "K1", "release")).await.unwrap());
    assert!(store.add_signing_key(&key("b", "K1", "release")).await.unwrap(), "the same key may be trusted twice");
    assert!(!store.add_signing_key(&key("a", "K1", "other")).await.unwrap());
    assert!(!store.add_signing_key(&key("a", "K2", "release")).await.unwrap(), "names are unique per namespace");
    assert_eq!(store.signing_keys("a").await.unwrap(), [key("a", "K1", "release")]);
    assert!(store.remove_signing_key("a", "K1").await.unwrap());
    assert!(!store.remove_signing_key("a", "K1").await.unwrap());
    assert_eq!(store.signing_keys("b").await.unwrap().len(), 1);
}

async fn audit_log_pages_newest_first_and_filters(store: Arc<dyn RegistryStore>) {
    for (i, actor) in ["alice", "bob", "alice (token abc)", "alice"].iter().enumerate() {
        store
            .record_audit(&NewAuditEntry {
                actor: Some((*actor).to_owned()),
                action: if i % 2 == 0 { "push".into() } else { "login".into() },
                target: format!("team/app:{i}"),
                address: Some("127.0.0.1".into()),
                outcome: if i == 1 { Outcome::Failed } else { Outcome::Ok },
                detail: String::new(),
            })
            .await
            .unwrap();
    }
    let all = store.audit(&AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap();
    let targets: Vec<&str> = all.iter().map(|e| e.record.target.as_str()).collect();
    assert_eq!(targets, ["team/app:3", "team/app:2", "team/app:1", "team/app:0"]);
    assert_eq!(all[2].record.outcome, Outcome::Failed);
    let alice = store.audit(&AuditQuery { actor: Some("alice".into()), limit: 10, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(alice.len(), 3, "the user's token actions count as the user's");
    let pushes = store.audit(&AuditQuery { action: Some("push".into()), limit: 10, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(pushes.len(), 2);
    let page = store.audit(&AuditQuery { before: Some(all[1].id), limit: 1, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(page[0].record.target, "team/app:1");
}

async fn settings_keep_the_first_value(store: Arc<dyn RegistryStore>) {
    assert_eq!(store.setting_or_insert("secret", "one").await.unwrap(), "one");
    assert_eq!(store.setting_or_insert("secret", "two").await.unwrap(), "one");
}

store_tests!(
    users_are_unique_and_updatable,
    namespace_access_reads_record_and_role_together,
    tokens_are_found_by_hash_and_revoked_once,
    signing_keys_are_per_namespace,
    audit_log_pages_newest_first_and_filters,
    settings_keep_the_first_value,
);

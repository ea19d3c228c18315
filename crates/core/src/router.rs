//! Method name -> handler. The one table of every method this build serves; anything else is
//! -32601. Handlers are typed functions in `handlers/<area>.rs`.

use std::sync::Arc;

use hark_protocol::RpcError;
use serde_json::Value;

use crate::connection::Connection;
use crate::daemon::Daemon;
use crate::handlers::{
    Reply, a2ui, admission, chat, host, meetings, memory, models, permissions, proposal, runs, session,
    settings, tools, voice,
};

/// Runs the method's handler. A handler that panics answers its request with -32603 (the
/// panic's message goes to the log, never to the client); the connection, its other requests and
/// the daemon go on. Unwinding drops what the handler held (its locks recover from poisoning:
/// `crate::lock`).
pub async fn dispatch(
    daemon: &Arc<Daemon>,
    conn: &Arc<Connection>,
    method: &str,
    params: Option<Value>,
) -> Result<Reply, RpcError> {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(route(daemon, conn, method, params)).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(method, session = %conn.session_id, panic = %what, "a handler panicked; answered -32603");
            Err(RpcError::internal())
        }
    }
}

async fn route(
    daemon: &Arc<Daemon>,
    conn: &Arc<Connection>,
    method: &str,
    params: Option<Value>,
) -> Result<Reply, RpcError> {
    match method {
        "session.auth" => session::reauthenticate(daemon, conn, params),
        "server.handshake" => session::handshake(params),
        "server.info" => session::info(daemon),
        "session.init" => session::init(conn, params),

        "tools.register" => tools::register(conn, params),
        "tools.list" => tools::list(conn),
        "tools.unregister" => tools::unregister(conn, params),
        "policy.register" => tools::policy_register(conn, params),
        "policy.list" => tools::policy_list(conn),
        "policy.unregister" => tools::policy_unregister(conn, params),
        "proposal.submit" => proposal::submit(daemon, conn, params).await,

        "host.subscribe" => host::subscribe(daemon, &conn.caller()),
        "host.events" => host::events(daemon, &conn.caller(), params),
        "host.agents" => host::agents(daemon, &conn.caller()),
        "host.approvals" => host::approvals(daemon, &conn.caller()),
        "host.register_agent" => host::register_agent(daemon, &conn.caller(), params),
        "host.set_status" => host::set_status(daemon, &conn.caller(), params),
        "host.unregister_agent" => host::unregister_agent(daemon, &conn.caller(), params),
        "host.notify" => host::notify(daemon, &conn.caller(), params),
        "host.request_approval" => host::request_approval(daemon, &conn.caller(), params),
        "host.resolve_approval" => host::resolve_approval(daemon, &conn.caller(), params),

        "permissions.list" => permissions::list(daemon, &conn.caller()),
        "permissions.revoke" => permissions::revoke(daemon, &conn.caller(), params),
        "permissions.request" => permissions::request(daemon, &conn.caller(), params).await,

        "admission.status" => admission::status(daemon),

        "voice.transcribe_stream.start" => voice::start(daemon, &conn.caller(), params).await,
        "voice.transcribe_stream.push" => voice::push(daemon, &conn.caller(), params).await,
        "voice.transcribe_stream.stop" => voice::stop(daemon, &conn.caller(), params).await,
        "voice.sessions.list" => voice::sessions(daemon, &conn.caller()),
        "voice.devices.list" => voice::devices(daemon).await,
        "transcribe" => voice::transcribe(daemon, params).await,

        "meeting.start" => meetings::start(daemon, &conn.caller(), params).await,
        "meeting.stop" => meetings::stop(daemon, &conn.caller(), params).await,
        "meeting.list" => meetings::list(daemon, &conn.caller(), params).await,
        "meeting.get" => meetings::get(daemon, &conn.caller(), params).await,
        "meeting.search" => meetings::search(daemon, &conn.caller(), params).await,
        "meeting.export" => meetings::export(daemon, &conn.caller(), params).await,
        "meeting.update" => meetings::update(daemon, &conn.caller(), params).await,
        "meeting.delete" => meetings::delete(daemon, &conn.caller(), params).await,
        "meeting.retranscribe" => meetings::retranscribe(daemon, &conn.caller(), params).await,
        "meeting.audio" => meetings::audio(daemon, &conn.caller(), params).await,

        "memory.add_fact" => memory::add_fact(daemon, params).await,
        "memory.query" => memory::query(daemon, &conn.caller(), params).await,
        "memory.fact_count" => memory::fact_count(daemon).await,

        "a2ui.apply" => a2ui::apply(daemon, &conn.caller(), params),
        "a2ui.ingest" => a2ui::ingest(daemon, &conn.caller(), params),
        "a2ui.capabilities" => a2ui::capabilities(daemon),
        "a2ui.surfaces" => a2ui::surfaces(daemon, &conn.caller()),
        "a2ui.get" => a2ui::get(daemon, &conn.caller(), params),
        "a2ui.action" => a2ui::action(daemon, &conn.caller(), params).await,
        "a2ui.reap" => a2ui::reap(daemon, &conn.caller()),
        "a2ui/subscribe" => a2ui::subscribe(daemon, &conn.caller()),
        "a2ui/unsubscribe" => a2ui::unsubscribe(daemon, &conn.caller()),
        "a2ui/replay" => a2ui::replay(daemon, &conn.caller()),

        "agents.chat" => chat::chat(daemon, &conn.caller(), params).await,
        "agent.chat.event" => chat::event(daemon, &conn.caller(), params),
        "agents.chat.cancel" => chat::cancel(daemon, &conn.caller(), params),
        "agents.chat.history" => chat::history(daemon, &conn.caller(), params).await,

        "runs.start" => runs::start(daemon, &conn.caller(), params).await,
        "runs.record_turns" => runs::record_turns(daemon, &conn.caller(), params).await,
        "runs.complete" => runs::complete(daemon, &conn.caller(), params).await,
        "runs.subscribe" => runs::subscribe(daemon, &conn.caller(), params).await,
        "runs.unsubscribe" => runs::unsubscribe(daemon, &conn.caller(), params),
        "runs.list" => runs::list(daemon, &conn.caller(), params).await,
        "runs.get_trace" => runs::get_trace(daemon, &conn.caller(), params).await,

        "models.list" => models::list(daemon).await,
        "models.pull" => models::pull(daemon, &conn.caller(), params).await,
        "models.import" => models::import(daemon, &conn.caller(), params).await,
        "models.remove" => models::remove(daemon, &conn.caller(), params).await,
        "models.set_default" => models::set_default(daemon, &conn.caller(), params).await,

        "settings.get" => settings::get(daemon, &conn.caller()),
        "settings.update" => settings::update(daemon, &conn.caller(), params),

        // Not a method: a fault only a test's daemon serves (`DaemonConfig::test_faults`).
        "debug.panic" if daemon.config.test_faults => panic!("a fault injected by a test"),

        other => Err(RpcError::method_not_found(other)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The method names of the table above: the quoted names that start a match arm.
    fn routed() -> BTreeSet<&'static str> {
        let source = include_str!("router.rs");
        let table = &source[..source.find("#[cfg(test)]").expect("tests at the end")];
        table
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.trim().strip_prefix('"')?.split_once('"')?;
                rest.trim_start().starts_with("=>").then_some(name)
            })
            .collect()
    }

    /// `docs/API.md`, the reference agent authors read, has exactly one "### `name`" heading
    /// per method the router serves, and none for a method it does not.
    #[test]
    fn the_api_reference_lists_exactly_the_routed_methods() {
        let doc = include_str!("../../../docs/API.md");
        let headings: Vec<&str> =
            doc.lines().filter_map(|l| l.strip_prefix("### `")?.strip_suffix('`')).collect();
        let documented: BTreeSet<&str> = headings.iter().copied().collect();
        assert_eq!(documented.len(), headings.len(), "a method is documented twice: {headings:?}");
        let routed = routed();
        assert!(routed.len() > 40, "the router table was not read: {routed:?}");
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "docs/API.md lacks {missing:?} and documents unknown {extra:?}"
        );
    }
}

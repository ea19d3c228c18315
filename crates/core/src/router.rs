//! Method name -> handler. The one table of every method this build serves; anything else is
//! -32601. Handlers are typed functions in `handlers/<area>.rs`.

use std::sync::Arc;

use hark_protocol::RpcError;
use serde_json::Value;

use crate::connection::Connection;
use crate::daemon::Daemon;
use crate::handlers::{Reply, admission, host, models, permissions, proposal, session, tools, voice};

pub async fn dispatch(
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

        "host.subscribe" => host::subscribe(daemon, conn),
        "host.events" => host::events(daemon, conn, params),
        "host.agents" => host::agents(daemon, conn),
        "host.approvals" => host::approvals(daemon, conn),
        "host.register_agent" => host::register_agent(daemon, conn, params),
        "host.set_status" => host::set_status(daemon, conn, params),
        "host.unregister_agent" => host::unregister_agent(daemon, conn, params),
        "host.notify" => host::notify(daemon, conn, params),
        "host.request_approval" => host::request_approval(daemon, conn, params),
        "host.resolve_approval" => host::resolve_approval(daemon, conn, params),

        "permissions.list" => permissions::list(daemon, conn),
        "permissions.revoke" => permissions::revoke(daemon, conn, params),
        "permissions.request" => permissions::request(daemon, conn, params).await,

        "admission.status" => admission::status(daemon),

        "voice.transcribe_stream.start" => voice::start(daemon, conn, params).await,
        "voice.transcribe_stream.push" => voice::push(daemon, conn, params).await,
        "voice.transcribe_stream.stop" => voice::stop(daemon, conn, params).await,
        "voice.sessions.list" => voice::sessions(daemon, conn),
        "voice.devices.list" => voice::devices(daemon).await,
        "transcribe" => voice::transcribe(daemon, params).await,

        "models.list" => models::list(daemon).await,
        "models.pull" => models::pull(daemon, conn, params).await,
        "models.import" => models::import(daemon, conn, params).await,
        "models.remove" => models::remove(daemon, conn, params).await,
        "models.set_default" => models::set_default(daemon, conn, params).await,

        other => Err(RpcError::method_not_found(other)),
    }
}

//! The command model shared by every protocol.
//!
//! A [`Command`] is what a client asked for, already validated: arity checked, numbers parsed,
//! options resolved. The RESP front end builds it from the arguments of a frame
//! (see [`crate::parse`]); later protocols carry the same model. Executors match on it once.
//!
//! Aliases whose reply has the same shape collapse into one variant (`UNLINK` is [`Command::Del`],
//! `SETEX` is [`Command::Set`] with an expiry); the [`CommandId`] that comes with every parsed
//! command keeps the name the client used, for statistics and error texts.

use bytes::Bytes;

/// When a key should expire, as given by the client.
///
/// Relative times are resolved against the clock of the store that executes the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Milliseconds from now (`EX`, `PX`, `EXPIRE`, `PEXPIRE`, `SETEX`, `PSETEX`).
    In(i64),
    /// Milliseconds since the Unix epoch (`EXAT`, `PXAT`, `EXPIREAT`, `PEXPIREAT`).
    At(i64),
}

/// The `NX`/`XX` condition of `SET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCondition {
    /// Only set the key if it does not exist.
    IfAbsent,
    /// Only set the key if it already exists.
    IfPresent,
}

/// The `NX`/`XX`/`GT`/`LT` condition of `EXPIRE` and its relatives (Redis 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireCondition {
    /// Only when the key has no expiry.
    IfNone,
    /// Only when the key has an expiry.
    IfSome,
    /// Only when the new expiry is later than the current one (no expiry counts as infinite).
    IfGreater,
    /// Only when the new expiry is earlier than the current one (no expiry counts as infinite).
    IfLess,
    /// `XX LT` together: only when the key has an expiry and the new one is earlier. (`XX GT`
    /// is plain [`ExpireCondition::IfGreater`], which already fails on a key without expiry.)
    IfSomeAndLess,
}

/// What `GETEX` does to the expiry of the key it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetExpiry {
    /// Set a new expiry.
    Set(Expiry),
    /// Remove the expiry (`PERSIST`).
    Persist,
}

/// The subcommands of `CONFIG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigCommand {
    /// `CONFIG GET pattern [pattern ...]`: glob patterns over parameter names.
    Get(Vec<Bytes>),
    /// `CONFIG SET name value [name value ...]`.
    Set(Vec<(Bytes, Bytes)>),
    /// `CONFIG RESETSTAT`.
    ResetStat,
}

/// The subcommands of `CLIENT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    /// `CLIENT SETNAME name`.
    SetName(Bytes),
    /// `CLIENT GETNAME`.
    GetName,
    /// `CLIENT ID`.
    Id,
    /// `CLIENT LIST`.
    List,
    /// `CLIENT INFO`.
    Info,
}

/// The subcommands of `COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandQuery {
    /// `COMMAND`: every command with its arity and flags.
    All,
    /// `COMMAND COUNT`.
    Count,
    /// `COMMAND INFO name [name ...]`.
    Info(Vec<Bytes>),
    /// `COMMAND DOCS [name ...]`: answered with an empty map, which clients accept.
    Docs(Vec<Bytes>),
}

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    // --- strings ---
    /// `GET key`.
    Get { key: Bytes },
    /// `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT t|KEEPTTL]`, also `SETEX`, `PSETEX`
    /// (with an expiry) and `GETSET` (with `get`).
    Set {
        key: Bytes,
        value: Bytes,
        condition: Option<SetCondition>,
        /// Reply with the old value instead of `OK`.
        get: bool,
        /// `None` with `keep_ttl == false` removes any expiry the key had.
        expiry: Option<Expiry>,
        keep_ttl: bool,
    },
    /// `SETNX key value`: replies 1 or 0.
    SetNx { key: Bytes, value: Bytes },
    /// `GETDEL key`.
    GetDel { key: Bytes },
    /// `GETEX key [EX|PX|EXAT|PXAT t|PERSIST]`.
    GetEx {
        key: Bytes,
        expiry: Option<GetExpiry>,
    },
    /// `MGET key [key ...]`.
    MGet { keys: Vec<Bytes> },
    /// `MSET key value [key value ...]`.
    MSet { pairs: Vec<(Bytes, Bytes)> },
    /// `MSETNX key value [key value ...]`: all or nothing, replies 1 or 0.
    MSetNx { pairs: Vec<(Bytes, Bytes)> },
    /// `APPEND key value`: replies the new length.
    Append { key: Bytes, value: Bytes },
    /// `STRLEN key`.
    StrLen { key: Bytes },
    /// `INCR`, `DECR`, `INCRBY`, `DECRBY`: the delta is already signed.
    IncrBy { key: Bytes, delta: i64 },
    /// `INCRBYFLOAT key delta`.
    IncrByFloat { key: Bytes, delta: f64 },

    // --- keys ---
    /// `DEL key [key ...]` and `UNLINK`.
    Del { keys: Vec<Bytes> },
    /// `EXISTS key [key ...]`: counts repeated keys again, as Redis does.
    Exists { keys: Vec<Bytes> },
    /// `TOUCH key [key ...]`.
    Touch { keys: Vec<Bytes> },
    /// `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT`.
    Expire {
        key: Bytes,
        expiry: Expiry,
        condition: Option<ExpireCondition>,
    },
    /// `EXPIRETIME` (seconds) and `PEXPIRETIME` (`millis`).
    ExpireTime { key: Bytes, millis: bool },
    /// `TTL` (seconds) and `PTTL` (`millis`).
    Ttl { key: Bytes, millis: bool },
    /// `PERSIST key`.
    Persist { key: Bytes },
    /// `TYPE key`.
    Type { key: Bytes },
    /// `DBSIZE`.
    DbSize,
    /// `FLUSHDB` and `FLUSHALL` (`ASYNC`/`SYNC` accepted; the flush is always immediate).
    FlushAll,
    /// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`.
    Scan {
        cursor: u64,
        pattern: Option<Bytes>,
        count: usize,
        type_filter: Option<Bytes>,
    },
    /// `KEYS pattern`.
    Keys { pattern: Bytes },
    /// `RANDOMKEY`.
    RandomKey,

    // --- connection and server ---
    /// `PING [message]`.
    Ping { message: Option<Bytes> },
    /// `ECHO message`.
    Echo { message: Bytes },
    /// `HELLO [protover [AUTH username password] [SETNAME name]]`.
    Hello {
        protocol: Option<i64>,
        auth: Option<(Bytes, Bytes)>,
        name: Option<Bytes>,
    },
    /// `AUTH [username] password`.
    Auth {
        username: Option<Bytes>,
        password: Bytes,
    },
    /// `QUIT`.
    Quit,
    /// `SELECT db`: only database 0 exists.
    Select { db: i64 },
    /// `INFO [section ...]`, lower-cased.
    Info { sections: Vec<Bytes> },
    /// `CONFIG ...`.
    Config(ConfigCommand),
    /// `COMMAND ...`.
    Command(CommandQuery),
    /// `CLIENT ...`.
    Client(ClientCommand),
    /// `SAVE`.
    Save,
    /// `BGREWRITEAOF`.
    BgRewriteAof,
}

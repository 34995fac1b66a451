//! The command table: every command the server knows, with Redis's arity, flags and key
//! positions, and a [`CommandId`] to name each one cheaply.
//!
//! The table is the single source for name lookup, the arity check, `COMMAND` replies and the
//! index of per-command statistics, so these can never disagree. One macro writes the table,
//! the `CommandId` constants and the lookup `match` from one list.

/// What the server knows about one command, as `COMMAND INFO` reports it.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis's convention: `n` means exactly `n` arguments counting the name, `-n` at least `n`.
    pub arity: i32,
    /// Redis's command flags (`write`, `readonly`, `fast`, `admin`, ...).
    pub flags: &'static [&'static str],
    /// Redis's ACL categories (`@read`, `@string`, ...).
    pub categories: &'static [&'static str],
    /// Position of the first key argument, 0 if none.
    pub first_key: i32,
    /// Position of the last key argument; -1 means the last argument.
    pub last_key: i32,
    /// Distance between key arguments (2 for `MSET`'s key, value pairs).
    pub step: i32,
}

impl CommandSpec {
    /// True if `argc` arguments (counting the name) satisfy the arity.
    pub fn accepts(&self, argc: usize) -> bool {
        let argc = i64::try_from(argc).unwrap_or(i64::MAX);
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// True if the command has `flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

/// A command, as a small index into the table. `Copy`, one byte: the node keeps per-command
/// statistics in an array of [`CommandId::COUNT`] slots indexed by [`CommandId::index`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(u8);

impl std::fmt::Debug for CommandId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CommandId({})", self.name())
    }
}

/// The longest command name; longer arguments are unknown commands without further looking.
const LONGEST_NAME: usize = 16;

impl CommandId {
    /// The command named `name`, in any letter case. Does not allocate.
    pub fn lookup(name: &[u8]) -> Option<CommandId> {
        if name.len() > LONGEST_NAME {
            return None;
        }
        let mut lower = [0u8; LONGEST_NAME];
        for (to, from) in lower.iter_mut().zip(name) {
            *to = from.to_ascii_lowercase();
        }
        let lower = std::str::from_utf8(&lower[..name.len()]).ok()?;
        lookup_lowercase(lower)
    }

    /// The position of this command in the table, below [`CommandId::COUNT`].
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The command at `index`, if `index < COUNT`.
    pub fn try_from_index(index: usize) -> Option<CommandId> {
        (index < CommandId::COUNT).then_some(CommandId(index as u8))
    }

    /// The command at `index`.
    ///
    /// # Panics
    /// If `index >= CommandId::COUNT`: indexes come from [`CommandId::index`], never from a peer.
    pub fn from_index(index: usize) -> CommandId {
        CommandId::try_from_index(index).expect("command index below CommandId::COUNT")
    }

    /// Every command, in table order.
    pub fn all() -> impl Iterator<Item = CommandId> {
        (0..CommandId::COUNT).map(|i| CommandId(i as u8))
    }

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The table entry.
    pub fn spec(self) -> &'static CommandSpec {
        &TABLE[self.index()]
    }
}

macro_rules! command_table {
    ($($id:ident $name:literal $arity:literal [$($flag:literal)*] [$($category:literal)*]
        $first:literal $last:literal $step:literal;)*) => {
        /// Declaration order, which is table order.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[repr(u8)]
        enum Position { $($id,)* }

        impl CommandId {
            /// How many commands there are.
            pub const COUNT: usize = [$($name),*].len();
            $(
                #[doc = concat!("`", $name, "`.")]
                pub const $id: CommandId = CommandId(Position::$id as u8);
            )*
        }

        static TABLE: [CommandSpec; CommandId::COUNT] = [$(
            CommandSpec {
                name: $name,
                arity: $arity,
                flags: &[$($flag),*],
                categories: &[$($category),*],
                first_key: $first,
                last_key: $last,
                step: $step,
            },
        )*];

        fn lookup_lowercase(name: &str) -> Option<CommandId> {
            match name {
                $($name => Some(CommandId::$id),)*
                _ => None,
            }
        }
    };
}

// name, arity, flags, ACL categories, first key, last key, step: as Redis 7 reports them.
command_table! {
    GET "get" 2 ["readonly" "fast"] ["@read" "@string" "@fast"] 1 1 1;
    SET "set" -3 ["write" "denyoom"] ["@write" "@string" "@slow"] 1 1 1;
    MGET "mget" -2 ["readonly" "fast"] ["@read" "@string" "@fast"] 1 -1 1;
    MSET "mset" -3 ["write" "denyoom"] ["@write" "@string" "@slow"] 1 -1 2;
    MSETNX "msetnx" -3 ["write" "denyoom"] ["@write" "@string" "@slow"] 1 -1 2;
    SETNX "setnx" 3 ["write" "denyoom" "fast"] ["@write" "@string" "@fast"] 1 1 1;
    SETEX "setex" 4 ["write" "denyoom"] ["@write" "@string" "@slow"] 1 1 1;
    PSETEX "psetex" 4 ["write" "denyoom"] ["@write" "@string" "@slow"] 1 1 1;
    GETSET "getset" 3 ["write" "denyoom" "fast"] ["@write" "@string" "@fast"] 1 1 1;
    GETDEL "getdel" 2 ["write" "fast"] ["@write" "@string" "@fast"] 1 1 1;
    GETEX "getex" -2 ["write" "fast"] ["@write" "@string" "@fast"] 1 1 1;
    APPEND "append" 3 ["write" "denyoom" "fast"] ["@write" "@string" "@fast"] 1 1 1;
    STRLEN "strlen" 2 ["readonly" "fast"] ["@read" "@string" "@fast"] 1 1 1;
    INCR "incr" 2 ["write" "denyoom" "fast"] ["@write" "@string" "@fast"] 1 1 1;
    DECR "decr" 2 ["write" "denyoom" "fast"] ["@write" "@string" "@fast"] 1 1 1;
    INCRBY "incrby" 3 ["write" "denyoom" "fast"] ["@write" "@string" "@fast"] 1 1 1;
    DECRBY "decrby" 3 ["write" "denyoom" "fast"] ["@write" "@string" "@fast"] 1 1 1;
    INCRBYFLOAT "incrbyfloat" 3 ["write" "denyoom" "fast"] ["@write" "@string" "@fast"] 1 1 1;
    DEL "del" -2 ["write"] ["@keyspace" "@write" "@slow"] 1 -1 1;
    UNLINK "unlink" -2 ["write" "fast"] ["@keyspace" "@write" "@fast"] 1 -1 1;
    EXISTS "exists" -2 ["readonly" "fast"] ["@keyspace" "@read" "@fast"] 1 -1 1;
    TOUCH "touch" -2 ["readonly" "fast"] ["@keyspace" "@read" "@fast"] 1 -1 1;
    EXPIRE "expire" -3 ["write" "fast"] ["@keyspace" "@write" "@fast"] 1 1 1;
    PEXPIRE "pexpire" -3 ["write" "fast"] ["@keyspace" "@write" "@fast"] 1 1 1;
    EXPIREAT "expireat" -3 ["write" "fast"] ["@keyspace" "@write" "@fast"] 1 1 1;
    PEXPIREAT "pexpireat" -3 ["write" "fast"] ["@keyspace" "@write" "@fast"] 1 1 1;
    EXPIRETIME "expiretime" 2 ["readonly" "fast"] ["@keyspace" "@read" "@fast"] 1 1 1;
    PEXPIRETIME "pexpiretime" 2 ["readonly" "fast"] ["@keyspace" "@read" "@fast"] 1 1 1;
    TTL "ttl" 2 ["readonly" "fast"] ["@keyspace" "@read" "@fast"] 1 1 1;
    PTTL "pttl" 2 ["readonly" "fast"] ["@keyspace" "@read" "@fast"] 1 1 1;
    PERSIST "persist" 2 ["write" "fast"] ["@keyspace" "@write" "@fast"] 1 1 1;
    TYPE "type" 2 ["readonly" "fast"] ["@keyspace" "@read" "@fast"] 1 1 1;
    DBSIZE "dbsize" 1 ["readonly" "fast"] ["@keyspace" "@read" "@fast"] 0 0 0;
    FLUSHDB "flushdb" -1 ["write"] ["@keyspace" "@write" "@slow" "@dangerous"] 0 0 0;
    FLUSHALL "flushall" -1 ["write"] ["@keyspace" "@write" "@slow" "@dangerous"] 0 0 0;
    SCAN "scan" -2 ["readonly"] ["@keyspace" "@read" "@slow"] 0 0 0;
    KEYS "keys" 2 ["readonly"] ["@keyspace" "@read" "@slow" "@dangerous"] 0 0 0;
    RANDOMKEY "randomkey" 1 ["readonly"] ["@keyspace" "@read" "@slow"] 0 0 0;
    PING "ping" -1 ["fast"] ["@fast" "@connection"] 0 0 0;
    ECHO "echo" 2 ["fast"] ["@fast" "@connection"] 0 0 0;
    HELLO "hello" -1 ["noscript" "loading" "stale" "fast" "no_auth" "allow_busy"] ["@fast" "@connection"] 0 0 0;
    AUTH "auth" -2 ["noscript" "loading" "stale" "fast" "no_auth" "allow_busy"] ["@fast" "@connection"] 0 0 0;
    QUIT "quit" -1 ["noscript" "loading" "stale" "fast" "no_auth" "allow_busy"] ["@fast" "@connection"] 0 0 0;
    SELECT "select" 2 ["loading" "stale" "fast"] ["@fast" "@connection"] 0 0 0;
    INFO "info" -1 ["loading" "stale"] ["@slow" "@dangerous"] 0 0 0;
    CONFIG "config" -2 [] ["@slow"] 0 0 0;
    COMMAND "command" -1 ["loading" "stale"] ["@slow" "@connection"] 0 0 0;
    CLIENT "client" -2 [] ["@slow"] 0 0 0;
    SAVE "save" 1 ["admin" "noscript"] ["@admin" "@slow" "@dangerous"] 0 0 0;
    BGREWRITEAOF "bgrewriteaof" 1 ["admin" "noscript"] ["@admin" "@slow" "@dangerous"] 0 0 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_looks_up_its_own_entry() {
        assert!(CommandId::COUNT <= usize::from(u8::MAX));
        for id in CommandId::all() {
            let name = id.name();
            assert!(name.len() <= LONGEST_NAME, "{name}");
            assert_eq!(name, name.to_ascii_lowercase());
            assert_eq!(CommandId::lookup(name.as_bytes()), Some(id));
            assert_eq!(
                CommandId::lookup(name.to_ascii_uppercase().as_bytes()),
                Some(id)
            );
            assert_eq!(CommandId::from_index(id.index()), id);
        }
        assert_eq!(CommandId::lookup(b"GeT"), Some(CommandId::GET));
        assert_eq!(CommandId::lookup(b"nope"), None);
        assert_eq!(CommandId::lookup(b"get\0"), None);
        assert_eq!(CommandId::lookup(&[0xff, b'g']), None);
        assert_eq!(CommandId::lookup(&[b'g'; 100]), None);
        assert_eq!(CommandId::try_from_index(CommandId::COUNT), None);
        assert_eq!(CommandId::all().count(), CommandId::COUNT);
    }

    #[test]
    fn arity_follows_the_redis_convention() {
        let get = CommandId::GET.spec();
        assert!(!get.accepts(1) && get.accepts(2) && !get.accepts(3));
        let set = CommandId::SET.spec();
        assert!(!set.accepts(2) && set.accepts(3) && set.accepts(9));
        assert!(CommandId::GET.spec().has_flag("readonly"));
        assert!(!CommandId::GET.spec().has_flag("write"));
    }
}

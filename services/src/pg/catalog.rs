//! The system catalog: schemas, tables, columns, unique indexes, foreign keys and sequences.
//!
//! Unique and foreign-key constraints carry their [`Deferral`] (DEFERRABLE, INITIALLY
//! DEFERRED); `deferred.rs` decides when their checks run.
//! Not modelled: versions per transaction (the engine's `Db::ddl` keeps a copy to put back on
//! rollback instead), no ALTER, no CHECK constraints, no non-unique index semantics (a plain
//! CREATE INDEX is recorded for its name only). Sequences live here because they are
//! non-transactional in PostgreSQL too: rollbacks and crashes never give a value back
//! (TRUNCATE ... RESTART IDENTITY is the exception, undone by `Db::undo_ddl`).
//! Invariant: a table's unique indexes are listed in creation order, primary key first when
//! declared in CREATE TABLE, which is the order PostgreSQL checks them in. A dropped table
//! keeps its slot (a `TableId` is never reused), so ids held by a rolled-back catalog copy,
//! by heaps and by the write log stay valid; it is gone from every name lookup and from
//! `tables()`.

use std::collections::{BTreeMap, BTreeSet};

use sqlparser::ast;

use super::error::{PgError, SqlState};
use super::value::ColumnType;

/// Index of a table in the catalog; stable for the life of the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableId(pub usize);

/// How a column gets a value when an INSERT omits it.
#[derive(Clone, Debug)]
pub enum ColumnDefault {
    /// `DEFAULT <expr>`, evaluated per row (now(), gen_random_uuid(), constants).
    Expr(Box<ast::Expr>),
    /// serial/bigserial/identity: `nextval` of the sequence, by its schema-qualified name
    /// (`public.t_id_seq`): sequences of two schemas are two sequences.
    Sequence(String),
}

/// One column of a table.
#[derive(Clone, Debug)]
pub struct Column {
    /// Column name, case-folded.
    pub name: String,
    /// Declared type.
    pub column_type: ColumnType,
    /// NOT NULL (PRIMARY KEY implies it).
    pub not_null: bool,
    /// DEFAULT, serial or identity source.
    pub default: Option<ColumnDefault>,
    /// `GENERATED ALWAYS AS IDENTITY`: explicit values are rejected with 428C9.
    pub identity_always: bool,
}

/// When a constraint is checked
/// (<https://www.postgresql.org/docs/15/sql-createtable.html>, DEFERRABLE and INITIALLY).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deferral {
    /// NOT DEFERRABLE (the default): a unique key per row, a foreign key at once.
    NotDeferrable,
    /// DEFERRABLE INITIALLY IMMEDIATE: at the end of each statement, unless SET CONSTRAINTS
    /// defers it.
    Immediate,
    /// DEFERRABLE INITIALLY DEFERRED: at COMMIT, unless SET CONSTRAINTS makes it immediate.
    Deferred,
}

impl Deferral {
    /// Whether SET CONSTRAINTS may name it and its checks can be queued.
    pub fn is_deferrable(self) -> bool {
        self != Deferral::NotDeferrable
    }
}

/// A unique index or constraint (PRIMARY KEY included).
#[derive(Clone, Debug)]
pub struct UniqueIndex {
    /// Constraint/index name, e.g. `users_pkey`, `users_email_key`.
    pub name: String,
    /// Column positions in the table.
    pub columns: Vec<usize>,
    /// When it is checked (always `NotDeferrable` for a CREATE UNIQUE INDEX).
    pub deferral: Deferral,
    /// A constraint (PRIMARY KEY, UNIQUE), not a CREATE UNIQUE INDEX: only constraints have
    /// a name SET CONSTRAINTS can find.
    pub constraint: bool,
    /// An expression or partial index (CREATE UNIQUE INDEX only): its key, computed from the
    /// row. `columns` is then empty, as such an index makes no column a key column (for row
    /// lock strength), cannot be referenced by a foreign key, and is inferred as an ON
    /// CONFLICT arbiter only by its expressions and predicate, as in PostgreSQL.
    pub computed: Option<std::sync::Arc<ComputedKey>>,
}

/// A non-unique index: the engine enforces nothing by it; SERIALIZABLE reads through it
/// (`ssi.rs`) and a write that changes its columns is not HOT.
#[derive(Clone, Debug)]
pub struct PlainIndex {
    /// Index name.
    pub name: String,
    /// Key column positions; empty for an expression or partial index, which no scan uses.
    pub columns: Vec<usize>,
    /// Every column its key or predicate reads (an UPDATE changing none of them is HOT).
    pub reads: Vec<usize>,
}

impl ComputedKey {
    /// The positions of the columns its parts and predicate name.
    pub fn referenced_columns(&self, table: &Table) -> Vec<usize> {
        let mut columns = std::collections::BTreeSet::new();
        for expr in self.parts.iter().chain(&self.predicate) {
            let _ = ast::visit_expressions(expr, |inner| {
                let name = match inner {
                    ast::Expr::Identifier(ident) => Some(fold_ident(ident)),
                    ast::Expr::CompoundIdentifier(parts) => parts.last().map(fold_ident),
                    _ => None,
                };
                columns.extend(name.and_then(|name| table.column_index(&name)));
                std::ops::ControlFlow::<()>::Continue(())
            });
        }
        columns.into_iter().collect()
    }
}

/// The key of an expression or partial unique index.
#[derive(Debug)]
pub struct ComputedKey {
    /// Each key part: a column reference or an immutable expression over the row's columns.
    pub parts: Vec<ast::Expr>,
    /// How PostgreSQL's messages show each part (`lower(slug)`, `email`).
    pub shown: Vec<String>,
    /// A partial index's WHERE: a row for which it is not true is not in the index.
    pub predicate: Option<ast::Expr>,
}

/// What a parent-side delete does to referencing rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForeignKeyAction {
    /// RESTRICT: the delete fails with 23503, at once even when the constraint is deferred.
    Restrict,
    /// NO ACTION (the default): the delete fails with 23503 when the check runs, at COMMIT
    /// for a deferred constraint (unless the key is back by then).
    NoAction,
    /// CASCADE: referencing rows are deleted too.
    Cascade,
    /// SET NULL: the referencing columns become NULL.
    SetNull,
}

/// A foreign key from this (child) table to a parent table.
#[derive(Clone, Debug)]
pub struct ForeignKey {
    /// Constraint name, e.g. `child_parent_id_fkey`.
    pub name: String,
    /// Referencing column positions in the child table.
    pub columns: Vec<usize>,
    /// The referenced table.
    pub parent: TableId,
    /// Referenced column positions in the parent table.
    pub parent_columns: Vec<usize>,
    /// ON DELETE action.
    pub on_delete: ForeignKeyAction,
    /// When the child-side check and the NO ACTION parent-side check run.
    pub deferral: Deferral,
}

/// A table definition.
#[derive(Clone, Debug)]
pub struct Table {
    /// Schema name (`public` when unqualified).
    pub schema: String,
    /// Table name, case-folded.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// Unique indexes in check order.
    pub uniques: Vec<UniqueIndex>,
    /// Foreign keys declared on this table.
    pub foreign_keys: Vec<ForeignKey>,
    /// Its non-unique indexes (DROP TABLE frees their names).
    pub plain_indexes: Vec<PlainIndex>,
    /// Column positions of its PRIMARY KEY, if it has one (GROUP BY of them makes the other
    /// columns functionally dependent).
    pub primary_key: Option<Vec<usize>>,
}

impl Table {
    /// Position of a column by (case-folded) name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| column.name == name)
    }

    /// The position of a column an INSERT or UPDATE writes; 42703 naming the relation.
    pub fn target_column(&self, name: &str) -> Result<usize, PgError> {
        self.column_index(name).ok_or_else(|| {
            PgError::new(
                SqlState::UndefinedColumn,
                format!(
                    "column \"{name}\" of relation \"{}\" does not exist",
                    self.name
                ),
            )
        })
    }

    /// Column names in table order.
    pub fn column_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|column| column.name.clone())
            .collect()
    }

    /// `schema.name`, the key the ground-truth log uses.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The sequences its serial and identity columns own: DROP TABLE drops them and
    /// TRUNCATE ... RESTART IDENTITY restarts them.
    pub fn owned_sequences(&self) -> Vec<String> {
        self.columns
            .iter()
            .filter_map(|column| match &column.default {
                Some(ColumnDefault::Sequence(sequence)) => Some(sequence.clone()),
                _ => None,
            })
            .collect()
    }

    /// Columns that a unique index covers: changing one makes an UPDATE a key update.
    pub fn is_key_column(&self, column_index: usize) -> bool {
        self.uniques
            .iter()
            .any(|unique| unique.columns.contains(&column_index))
    }
}

/// The catalog of one simulated database.
#[derive(Clone, Debug)]
pub struct Catalog {
    schemas: BTreeSet<String>,
    tables: Vec<Table>,
    tables_by_name: BTreeMap<(String, String), TableId>,
    /// Relation names (tables, indexes, sequences) per schema, for 42P07.
    relation_names: BTreeSet<(String, String)>,
    /// Last value handed out per sequence, by schema-qualified name; 0 means none yet
    /// (sequences start at 1).
    sequences: BTreeMap<String, i64>,
    /// Tables removed by DROP TABLE; their slots in `tables` stay.
    dropped: BTreeSet<TableId>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            schemas: BTreeSet::from(["public".to_string()]),
            tables: Vec::new(),
            tables_by_name: BTreeMap::new(),
            relation_names: BTreeSet::new(),
            sequences: BTreeMap::new(),
            dropped: BTreeSet::new(),
        }
    }
}

/// Case-folds an identifier the way PostgreSQL does: unquoted names are lowercased.
pub fn fold_ident(ident: &ast::Ident) -> String {
    let folded = if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    };
    truncate_identifier(&folded).to_string()
}

/// PostgreSQL's longest identifier in bytes (NAMEDATALEN - 1).
pub const IDENTIFIER_BYTES_MAX: usize = 63;

/// An identifier cut to 63 bytes at a character boundary, as PostgreSQL's scanner cuts every
/// longer one (with a NOTICE, not modelled), so two names equal in their first 63 bytes are
/// one name.
pub fn truncate_identifier(name: &str) -> &str {
    clip_bytes(name, IDENTIFIER_BYTES_MAX)
}

/// The longest prefix of `name` within `bytes` bytes that ends at a character boundary
/// (PostgreSQL's pg_mbcliplen).
fn clip_bytes(name: &str, bytes: usize) -> &str {
    let mut end = name.len().min(bytes);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// A generated name `name1[_name2]_label` of at most 63 bytes, as PostgreSQL's
/// makeObjectName builds it: the longer of the two names loses a byte at a time until the
/// whole fits (`<58 a's>_pkey` for a 60-byte table name).
pub fn make_object_name(name1: &str, name2: Option<&str>, label: &str) -> String {
    let overhead = label.len() + 1 + name2.map_or(0, |_| 1);
    let available = IDENTIFIER_BYTES_MAX.saturating_sub(overhead);
    let (mut chars1, mut chars2) = (name1.len(), name2.map_or(0, str::len));
    while chars1 + chars2 > available {
        if chars1 > chars2 {
            chars1 -= 1;
        } else {
            chars2 -= 1;
        }
    }
    let mut result = clip_bytes(name1, chars1).to_string();
    if let Some(name2) = name2 {
        result.push('_');
        result.push_str(clip_bytes(name2, chars2));
    }
    result.push('_');
    result.push_str(label);
    result
}

/// A dotted name with each part folded as `fold_ident` does (`"users"."userId"` is
/// `users.userId`, `Users.X` is `users.x`).
pub fn fold_name(name: &ast::ObjectName) -> String {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| match part {
            ast::ObjectNamePart::Identifier(ident) => fold_ident(ident),
            ast::ObjectNamePart::Function(_) => part.to_string(),
        })
        .collect();
    parts.join(".")
}

/// Splits `[schema.]name` into folded parts, defaulting the schema to `public`.
pub fn split_name(name: &ast::ObjectName) -> Result<(String, String), PgError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| match part {
            ast::ObjectNamePart::Identifier(ident) => Ok(fold_ident(ident)),
            ast::ObjectNamePart::Function(_) => {
                Err(PgError::unsupported("function in object name"))
            }
        })
        .collect::<Result<_, _>>()?;
    match &parts[..] {
        [table] => Ok(("public".to_string(), table.clone())),
        [schema, table] => Ok((schema.clone(), table.clone())),
        _ => Err(PgError::unsupported(format!(
            "cross-database reference {name}"
        ))),
    }
}

impl Catalog {
    /// Looks a table up by its AST name; 42P01 when absent (named as written).
    /// PostgreSQL's system catalogs and views (`pg_class`, `information_schema.tables`, ...)
    /// are not modelled: a name that could be one is unsupported (0A000), not 42P01, which
    /// would claim the real server lacks it. Unqualified names search `pg_catalog` first.
    pub fn resolve(&self, name: &ast::ObjectName) -> Result<TableId, PgError> {
        let key = split_name(name)?;
        if let Some(table) = self.tables_by_name.get(&key) {
            return Ok(*table);
        }
        let (schema, table) = (&key.0, &key.1);
        let system = matches!(schema.as_str(), "pg_catalog" | "information_schema")
            || (table.starts_with("pg_") && name.0.len() == 1);
        if system {
            return Err(PgError::unsupported(format!(
                "system catalog or view {name} (PostgreSQL's catalogs are not modelled)"
            )));
        }
        Err(PgError::new(
            SqlState::UndefinedTable,
            format!("relation \"{name}\" does not exist"),
        ))
    }

    /// Looks a table up by its qualified `schema.name` or plain `name` (public schema).
    pub fn find(&self, qualified: &str) -> Option<TableId> {
        let (schema, name) = qualified.split_once('.').unwrap_or(("public", qualified));
        self.tables_by_name
            .get(&(schema.to_string(), name.to_string()))
            .copied()
    }

    /// The table definition for an id.
    pub fn table(&self, table_id: TableId) -> &Table {
        &self.tables[table_id.0]
    }

    /// Every table not dropped, in creation order.
    pub fn tables(&self) -> impl Iterator<Item = (TableId, &Table)> {
        self.tables
            .iter()
            .enumerate()
            .map(|(table_index, table)| (TableId(table_index), table))
            .filter(|(table_id, _)| !self.dropped.contains(table_id))
    }

    /// Table slots ever used, dropped ones included: the id the next table gets.
    pub fn table_slot_count(&self) -> usize {
        self.tables.len()
    }

    /// Tables dropped so far (their heaps and triggers can go once the drop commits).
    pub fn dropped(&self) -> &BTreeSet<TableId> {
        &self.dropped
    }

    /// Foreign keys that reference `parent`: (child table, foreign key index).
    pub fn referencing(&self, parent: TableId) -> Vec<(TableId, usize)> {
        let mut found = Vec::new();
        for (child_id, child) in self.tables() {
            for (fk_index, fk) in child.foreign_keys.iter().enumerate() {
                if fk.parent == parent {
                    found.push((child_id, fk_index));
                }
            }
        }
        found
    }

    /// Whether a schema exists.
    pub fn has_schema(&self, schema: &str) -> bool {
        self.schemas.contains(schema)
    }

    /// Adds a schema; 42P06 if it exists (unless `if_not_exists`).
    pub fn create_schema(&mut self, schema: String, if_not_exists: bool) -> Result<(), PgError> {
        if self.schemas.contains(&schema) {
            if if_not_exists {
                return Ok(());
            }
            return Err(PgError::new(
                SqlState::DuplicateSchema,
                format!("schema \"{schema}\" already exists"),
            ));
        }
        self.schemas.insert(schema);
        Ok(())
    }

    /// Whether a relation name is taken in a schema.
    pub fn relation_exists(&self, schema: &str, name: &str) -> bool {
        self.relation_names
            .contains(&(schema.to_string(), name.to_string()))
    }

    /// Claims a relation name (index, sequence); 42P07 if taken.
    pub fn claim_relation_name(&mut self, schema: &str, name: &str) -> Result<(), PgError> {
        if !self
            .relation_names
            .insert((schema.to_string(), name.to_string()))
        {
            return Err(PgError::new(
                SqlState::DuplicateTable,
                format!("relation \"{name}\" already exists"),
            ));
        }
        Ok(())
    }

    /// Registers a fully built table; its name must have been checked free.
    pub fn add_table(&mut self, table: Table) -> TableId {
        let table_id = TableId(self.tables.len());
        let key = (table.schema.clone(), table.name.clone());
        self.relation_names.insert(key.clone());
        self.tables_by_name.insert(key, table_id);
        self.tables.push(table);
        table_id
    }

    /// Takes `later`'s position for every sequence this catalog has (a rolled-back catalog
    /// keeps the values its sequences handed out meanwhile).
    pub fn keep_sequence_positions(&mut self, later: &Catalog) {
        for (name, value) in self.sequences.iter_mut() {
            if let Some(later_value) = later.sequences.get(name) {
                *value = *later_value;
            }
        }
    }

    /// Removes a table: its name, its index names and the sequences it owns. Foreign keys
    /// that reference it must be gone already (DROP TABLE checks or drops them first).
    pub fn drop_table(&mut self, table_id: TableId) {
        if !self.dropped.insert(table_id) {
            return;
        }
        let table = &self.tables[table_id.0];
        let schema = table.schema.clone();
        self.tables_by_name
            .remove(&(schema.clone(), table.name.clone()));
        let mut names = vec![table.name.clone()];
        names.extend(table.uniques.iter().map(|unique| unique.name.clone()));
        names.extend(table.plain_indexes.iter().map(|index| index.name.clone()));
        for sequence in table.owned_sequences() {
            self.sequences.remove(&sequence);
            let bare = sequence
                .strip_prefix(&format!("{schema}."))
                .map(str::to_string);
            names.push(bare.unwrap_or(sequence));
        }
        for name in names {
            self.relation_names.remove(&(schema.clone(), name));
        }
    }

    /// Removes the foreign keys of `child` that reference a table in `parents` (DROP TABLE
    /// ... CASCADE); the referencing table and its rows stay.
    pub fn drop_foreign_keys_to(&mut self, child: TableId, parents: &BTreeSet<TableId>) {
        self.tables[child.0]
            .foreign_keys
            .retain(|fk| !parents.contains(&fk.parent));
    }

    /// Records a non-unique index of a table.
    pub fn add_plain_index(&mut self, table_id: TableId, index: PlainIndex) {
        self.tables[table_id.0].plain_indexes.push(index);
    }

    /// Last value a sequence handed out (0: none yet), if it exists.
    pub fn sequence_position(&self, sequence: &str) -> Option<i64> {
        self.sequences.get(sequence).copied()
    }

    /// Sets a sequence's last value, if it exists (`0` restarts it: the next value is 1).
    pub fn set_sequence_position(&mut self, sequence: &str, last: i64) {
        if let Some(position) = self.sequences.get_mut(sequence) {
            *position = last;
        }
    }

    /// Adds a unique index to an existing table.
    pub fn add_unique(&mut self, table_id: TableId, unique: UniqueIndex) {
        self.tables[table_id.0].uniques.push(unique);
    }

    /// Creates the sequence `name` of `schema`, starting at 1; returns its qualified name.
    pub fn create_sequence(&mut self, schema: &str, name: &str) -> Result<String, PgError> {
        self.claim_relation_name(schema, name)?;
        let qualified = format!("{schema}.{name}");
        self.sequences.insert(qualified.clone(), 0);
        Ok(qualified)
    }

    /// `nextval` of a schema-qualified sequence: non-transactional, never reused.
    pub fn nextval(&mut self, sequence: &str) -> Result<i64, PgError> {
        let last = self.sequences.get_mut(sequence).ok_or_else(|| {
            PgError::new(
                SqlState::UndefinedTable,
                format!("relation \"{sequence}\" does not exist"),
            )
        })?;
        *last += 1;
        Ok(*last)
    }
}

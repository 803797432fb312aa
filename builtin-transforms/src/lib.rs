//! Built-in record transforms (set/remove/rename/mask field, header, case) and rule chains (filled by the hook-pipeline issue).

//! Discovery documents, `/version` and `Table` answers for kubectl.

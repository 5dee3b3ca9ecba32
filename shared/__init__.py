"""hubsync's core: configuration, SQL reading, mapping, validation, batching, HubSpot writing,
state, queues and the CLI. Importing it needs no ODBC driver; SQL Server's is loaded only
when a mssql source is used."""

__version__ = "0.1.0"

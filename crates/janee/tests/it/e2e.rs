//! End-to-end tests through MCP clients this project did not write.

"""Reports for committees and the public: pure renderers of rows a service computed."""

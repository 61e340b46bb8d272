"""One module per page of the staff UI."""

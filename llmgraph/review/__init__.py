"""The review loop: choose the reports worth a person's time, export them to an annotation tool with the
system's graphs as pre-annotations, and read the corrected graphs back as gold."""

"""What runs inside the CodeBuild container. Standard library only, Python 3.9+."""

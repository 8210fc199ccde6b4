"""Local AWS endpoint: cbdeploy's CodeBuild emulator in front of moto."""

"""The infrastructure of a stage: names, the desired model, observe-plan-execute for bootstrap and destroy."""

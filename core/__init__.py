"""The spine every stage stands on: configs, specialists, paths, errors, the dataset contract, models, masking."""

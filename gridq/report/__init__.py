"""The HTML report and plot data of a bundle, built from its outputs."""

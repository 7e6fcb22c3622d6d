"""Sample backend service of the sovereign.datacenter lab (lab/build-sample-app builds its releases)."""

# Set by lab/build-sample-app in the copy it builds (never edited in the tree).
__version__ = "0.0.0"
# A deliberately broken release (lab/build-sample-app --broken): /ready always 503, / answers 500.
SOVEREIGN_SAMPLE_APP_BROKEN = False

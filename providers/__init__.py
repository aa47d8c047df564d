"""Everything that talks to the outside world: compute providers, the Hugging Face Hub, live prices,
local hardware detection. SDKs and heavy libraries are imported lazily, inside the call that needs them.
"""

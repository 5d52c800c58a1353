"""The dashboard's Streamlit helpers: navigation, controls, live charts, drawing; pages/ uses them."""

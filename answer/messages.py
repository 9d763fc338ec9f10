"""What the service says in its own words: the general disclaimer and the texts of its refusals."""

GENERAL_DISCLAIMER = (
    "This is general health information, not medical advice or a diagnosis. "
    "If you are worried about a symptom, talk to a doctor, pharmacist or other qualified clinician. "
    "In an emergency, call your local emergency number."
)
NOT_COVERED = (
    "The articles here don't cover this question, so there is no answer to give from them. "
    "Please ask a doctor, pharmacist or nurse, or look at a trusted public source such as "
    "MedlinePlus (medlineplus.gov) or the NHS website (nhs.uk)."
)
NO_DOSES = (
    "This service does not give medicine doses or say how much of a medicine to take. "
    "Follow the leaflet that came with the medicine, or ask a pharmacist, doctor or nurse: they can "
    "check the dose against your age, weight, other medicines and health conditions."
)
NOT_A_QUESTION = (
    "This service only answers health questions from its articles and does not follow other instructions. "
    "Please ask a question about a topic these articles cover, or ask a doctor, pharmacist or nurse."
)

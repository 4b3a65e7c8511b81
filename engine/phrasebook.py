"""The assistant's own texts (menu, HELP, hand-off, opt-out confirmations, errors) per language.

Imports engine.languages only. English is each texts class's own defaults (Texts,
SubscriptionTexts, DeskTexts, LinkingTexts, which a deployment may override); every other
language is a table here, keyed by the class's name and its field names, and `translated` gives
the class's instance in that language. A field a table lacks stays as the deployment wrote it.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, TypeVar

from engine.languages import DEFAULT_LANGUAGE

T = TypeVar("T")

PHRASES: dict[str, dict[str, dict[str, str]]] = {
    "es": {
        "Texts": {
            # The texts sent with an author's message, or most often, are spelled in GSM-7
            # (no á, í, ó, ú, as Spanish SMS often is): an accent there would turn the
            # whole message into UCS-2 and cost 2-3 times the segments.
            "menu": "¿En qué puedo ayudarle? Responda con un numero:",
            "menu_unsure": "¿Quiso decir uno de estos? Responda con un numero:",
            "no_topics": "Lo siento, ahora no hay nada en lo que pueda ayudar por mensaje.",
            "reply_number": "Responda con un numero.",
            "more": "Responda MAS para ver mas.",
            "reprompt": "Lo siento, no le entendi.",
            "too_long": ("Esa respuesta es demasiado larga: use {limit} caracteres como "
                         "máximo."),
            "photo_please": "Envíe una foto (un archivo de imagen), por favor.",
            "anything_else": "¿Hay algo mas en lo que pueda ayudarle? (si/no)",
            "restart": "De acuerdo, empecemos de nuevo.",
            "timed_out": "Nuestra conversación anterior caducó, así que empecemos de nuevo.",
            "goodbye": "Gracias por escribirnos. ¡Hasta pronto!",
            "handoff": ("Le estoy comunicando con un agente. Espere aquí, por favor; le "
                        "responderá en breve."),
            "escalate": "Me cuesta entenderle. Le comunico con un agente.",
            "error": ("Lo siento, algo falló de nuestro lado. Le comunico con un agente."),
            "account_needed": ("Eso requiere una cuenta vinculada. Escriba LINK para vincular "
                               "su cuenta primero."),
            "empty_list": "Ahora no hay nada para elegir.",
        },
        "SubscriptionTexts": {
            "status_on": ("Las notificaciones están activadas. Escriba PARAR para "
                          "desactivarlas."),
            "status_off": ("Las notificaciones están desactivadas. Escriba COMENZAR para "
                           "activarlas."),
            "subscribed": ("Está suscrito a las notificaciones de {program}. Escriba PARAR "
                           "para darse de baja."),
            "unsubscribed": ("Se ha dado de baja de {program} y no recibirá más mensajes. "
                             "Escriba COMENZAR para volver a suscribirse."),
            "resumed": ("Volverá a recibir mensajes de {program}. Escriba PARAR para darse de "
                        "baja."),
            "resumed_guest": ("Volverá a recibir mensajes de {program}. Escriba PARAR para "
                              "darse de baja. Para notificaciones, escriba LINK para vincular "
                              "su cuenta primero."),
            "guest": ("Las notificaciones requieren una cuenta vinculada. Escriba LINK para "
                      "vincular la suya y luego COMENZAR para activarlas."),
            "help": ("{program}: soporte por mensaje. Para ayuda, {contact}. La frecuencia de "
                     "mensajes varía. Pueden aplicarse tarifas de mensajes y datos. Escriba "
                     "PARAR para darse de baja."),
            "stop_clarify": ("Responda PARAR para no recibir más mensajes de {program}, o "
                             "dígame qué necesita."),
        },
        "DeskTexts": {
            "callback": ("Ahora no hay ningún agente disponible{hours}. Un agente le escribirá "
                         "a este número en cuanto esté libre. Mientras tanto sigo aquí: "
                         "escriba MENU para ver lo que puedo hacer."),
            "unavailable": ("Ahora no hay ningún agente disponible{hours}. Sigo aquí para "
                            "ayudarle: escriba MENU para ver lo que puedo hacer."),
            "hours": " (nuestros agentes trabajan {hours})",
            "joined": "{agent} se ha unido a la conversación.",
            "timed_out": ("Lo siento, ningún agente pudo atenderle a tiempo. Vuelvo a estar "
                          "aquí: escriba MENU para ver lo que puedo hacer, o AGENTE para "
                          "intentarlo más tarde."),
            "transferred": ("Vuelve a hablar con el asistente virtual. Escriba MENU para ver "
                            "lo que puedo hacer."),
            "ended": ("Gracias por escribirnos. Esta conversación ha terminado: escríbanos "
                      "cuando quiera para empezar de nuevo."),
            "left": "Ha salido de la conversación con {agent}.",
            "moved": ("Su conversación ha pasado a otro equipo. Un agente de ese equipo le "
                      "escribirá en cuanto esté libre."),
        },
        "LinkingTexts": {
            "ask_identity": ("Para vincular su cuenta, responda con su nombre de usuario o "
                             "correo electrónico. Escriba MENU para dejarlo."),
            "needs_account": ("{topic} requiere una cuenta vinculada. Para vincular la suya, "
                              "responda con su nombre de usuario o correo electrónico. Escriba "
                              "MENU para dejarlo."),
            "ask_pin": "Gracias. Ahora responda con su PIN.",
            "ask_code": ("Ahora responda con el código de 6 dígitos de su aplicación de "
                         "autenticación."),
            "no_match": ("Eso no coincide con nuestros registros. Responda con su nombre de "
                         "usuario o correo electrónico para intentarlo de nuevo, o escriba "
                         "MENU para dejarlo."),
            "bad_code": ("Ese código no funcionó. Responda con el código de 6 dígitos actual "
                         "de su aplicación de autenticación."),
            "locked": ("Demasiados intentos fallidos. Por su seguridad, la vinculación de "
                       "cuentas queda en pausa durante {minutes} minutos."),
            "gave_up": ("Sin una cuenta vinculada no puedo ayudarle con {topic} por mensaje. "
                        "Escriba MENU para ver otras opciones."),
            "linked": ("Gracias, {name}. Este teléfono ya está vinculado a su cuenta. Escriba "
                       "UNLINK para quitar el vínculo."),
            "already_linked": ("Este teléfono ya está vinculado a la cuenta de {name}. Escriba "
                               "UNLINK para quitar el vínculo."),
            "unlinked": ("Este teléfono ya no está vinculado a su cuenta. Escriba LINK para "
                         "vincularlo de nuevo."),
            "not_linked": ("Este teléfono no está vinculado a ninguna cuenta. Escriba LINK para "
                           "vincular una."),
            "unavailable": "Lo siento, la vinculación de cuentas no está disponible ahora.",
        },
    },
}

# What the assistant says about languages themselves, in each language (the language
# interceptor, engine/language_switch.py). {keyword} is the word that picks the language.
LANGUAGE_PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "offer": "For English, text {keyword}.",
        "chosen": "OK, I'll text you in English.",
        "menu": "Which language? Reply with a number:",
    },
    "es": {
        "offer": "Para español, escriba {keyword}.",
        # Parley's default HELP contact (engine.assembly.DEFAULT_CONTACT), in this language.
        "text AGENT to reach a person": "escriba AGENTE para hablar con una persona",
        "chosen": "De acuerdo, le escribiré en español.",
        "menu": "¿Qué idioma? Responda con un numero:",
    },
}

_cache: dict[tuple[int, str], Any] = {}
_lock = threading.Lock()


def translated(texts: T, language: str | None) -> T:
    """`texts` (an instance of a texts dataclass) in `language`; itself for the default."""
    if not language or language == DEFAULT_LANGUAGE:
        return texts
    table = PHRASES.get(language, {}).get(type(texts).__name__)
    if not table:
        return texts
    key = (id(texts), language)
    found = _cache.get(key)
    if found is None or found[0] is not texts:
        fields = {f.name for f in dataclasses.fields(texts)}
        found = (texts, dataclasses.replace(
            texts, **{k: v for k, v in table.items() if k in fields}))
        with _lock:
            _cache[key] = found
    return found[1]


def in_language(text: str, language: str | None) -> str:
    """One of Parley's default phrases (a HELP contact) in `language`, if the phrasebook has
    it; any other text (a deployment's own) as it is."""
    return LANGUAGE_PHRASES.get(language or DEFAULT_LANGUAGE, {}).get(text, text)


def language_phrase(language: str | None, key: str, **values: str) -> str:
    table = LANGUAGE_PHRASES.get(language or DEFAULT_LANGUAGE, LANGUAGE_PHRASES[DEFAULT_LANGUAGE])
    return table[key].format(**values)

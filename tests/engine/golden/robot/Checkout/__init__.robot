*** Settings ***
Documentation    Top-level suite for the testdash golden file.
